import type { AccessCheck, AccessRequest } from '../config/options.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../observe/logger.js';
import type { AttemptBudget } from '../limits/attempt-budget.js';

/** Decides whether an upgrade may become a WebSocket. */
export interface AccessGate {
  allows(token: string | undefined, request: AccessRequest): Promise<boolean>;
  /** Re-reads the tokens file (SIGHUP in the CLI); keeps the old tokens if it cannot. */
  reload(): Promise<{ tokens: number } | undefined>;
}

/** What an upgrade's access token comes to, the address's failure budget applied. */
export type TokenVerdict = 'admitted' | 'rate_limited' | 'unauthorized';

/**
 * The token rules every relay keeps (the server's upgrade gate, the
 * Worker): a wrong token is a guess and spends the address's failure
 * budget, the one code guesses spend, so the gate cannot be brute-forced
 * either; an address over budget gets rate_limited before its token is
 * looked at (no more guesses, right or wrong, this window, and no call to
 * an operator's check for an address already locked out); a missing token
 * is not a guess and spends nothing.
 */
export async function judgeToken(
  gate: AccessGate,
  budget: AttemptBudget,
  token: string | undefined,
  request: AccessRequest,
): Promise<TokenVerdict> {
  const key = request.clientKey;
  // Not begin(): attempts in flight count there, and behind Redis a burst
  // of right tokens from one NAT would refuse itself.
  if (await budget.spent(key)) return 'rate_limited';
  if (await gate.allows(token, request)) return 'admitted';
  if (token !== undefined) {
    // begin() counts guesses still running, as for codes, so 64 sent at the
    // same instant from one address still get only the budget; then it is spent.
    if (!(await budget.begin(key))) return 'rate_limited';
    await budget.end(key, true);
  }
  return 'unauthorized';
}

/** SHA-256 of a token: equal-length digests make timingSafeEqual possible for any token. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The token an upgrade carries: `Authorization: Bearer <t>`, else `?token=<t>`
 * (the amesh CLI can only put it in its --relay URL).
 */
export function tokenOf(authorization: string | undefined, url: string): string | undefined {
  if (authorization !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (m !== null) return m[1];
  }
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  try {
    return new URLSearchParams(url.slice(q + 1)).get('token') ?? undefined;
  } catch {
    return undefined;
  }
}

/** A gate over a fixed list of tokens (the edge's secret, or the server's list and file). */
export function tokenListGate(tokens: readonly string[]): AccessGate & {
  replace(tokens: readonly string[]): void;
} {
  let digests = tokens.map(digest);
  return {
    async allows(token) {
      if (token === undefined) return false;
      const presented = digest(token);
      // Every digest compared, no early exit: the time taken says nothing about which matched.
      let match = false;
      for (const d of digests) match = timingSafeEqual(d, presented) || match;
      return match;
    },
    async reload() {
      return undefined;
    },
    replace(next) {
      digests = next.map(digest);
    },
  };
}

/**
 * How long an operator's check may take. One that never answers would hold
 * its socket, and a slot of the connection table, for as long as the client
 * waits; a check against an auth service has seconds, not minutes.
 */
export const ACCESS_CHECK_MS = 5_000;

/** A gate that asks the operator's own check, within ACCESS_CHECK_MS; a throw refuses. */
export function functionGate(check: AccessCheck, log: Logger): AccessGate {
  return {
    async allows(token, request) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(resolve, ACCESS_CHECK_MS, 'late');
      });
      try {
        const verdict = await Promise.race([check(token, request), late]);
        if (verdict !== 'late') return verdict === true;
        log.error({ ms: ACCESS_CHECK_MS }, 'access check did not answer in time: upgrade refused');
        return false;
      } catch (err) {
        // Fail closed. Only the error's name: its message could quote what it was given.
        log.error({ err: (err as Error)?.name }, 'access check threw: upgrade refused');
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    async reload() {
      return undefined;
    },
  };
}
