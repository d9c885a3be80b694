import {
  OptionTypeError,
  tokenProblem,
  type AccessCheck,
  type AccessRequest,
  type AccessTokens,
} from '../config/options.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
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

/** File lines → tokens; blank lines and # comments skipped. Problems name the line, never the token. */
function parseTokensFile(text: string): string[] {
  const tokens: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const problem = tokenProblem(line);
    if (problem !== undefined) throw new Error(`line ${i + 1} ${problem}`);
    tokens.push(line);
  });
  return tokens;
}

/** The access settings, checked and with the tokens file read (a {@link loadAccessTokens} result). */
export type AccessTokenSource =
  | { kind: 'open' }
  | { kind: 'check'; check: AccessCheck }
  | { kind: 'tokens'; tokens: readonly string[]; file: string; fromFile: readonly string[] };

/**
 * Reads and checks the access settings at construction: a file that cannot
 * be read or holds a bad line stops the start, naming the option.
 */
export function loadAccessTokens(tokens: AccessTokens, file: string): AccessTokenSource {
  if (typeof tokens === 'function') {
    if (file !== '') {
      throw new TypeError(
        'pairing-relay: options "accessTokens" (a function) and "accessTokensFile" exclude each other',
      );
    }
    return { kind: 'check', check: tokens };
  }
  if (tokens.length === 0 && file === '') return { kind: 'open' };
  let fromFile: string[] = [];
  if (file !== '') {
    try {
      fromFile = parseTokensFile(readFileSync(file, 'utf8'));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new OptionTypeError('accessTokensFile', `cannot be used: ${e.code ?? e.message}`);
    }
  }
  return { kind: 'tokens', tokens, file, fromFile };
}

/** The gate, or undefined when no token (list, function or file) is configured: an open relay. */
export function createAccessGate(source: AccessTokenSource, log: Logger): AccessGate | undefined {
  if (source.kind === 'open') return undefined;
  if (source.kind === 'check') return functionGate(source.check, log);
  const { tokens, file, fromFile } = source;
  if (file !== '' && fromFile.length === 0) {
    log.warn({ file }, 'access-token file holds no token: every upgrade is refused');
  }
  let digests = [...tokens, ...fromFile].map(digest);
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
      if (file === '') return undefined;
      let next: string[];
      try {
        // A small file, read on SIGHUP only.
        next = parseTokensFile(readFileSync(file, 'utf8'));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        log.error(
          { file, err: e.code ?? e.message },
          'access tokens not reloaded: keeping the old ones',
        );
        return undefined;
      }
      digests = [...tokens, ...next].map(digest);
      log.info({ file, tokens: digests.length }, 'access tokens reloaded');
      return { tokens: digests.length };
    },
  };
}

/**
 * How long an operator's check may take. One that never answers would hold
 * its socket, and a slot of the connection table, for as long as the client
 * waits; a check against an auth service has seconds, not minutes.
 */
export const ACCESS_CHECK_MS = 5_000;

function functionGate(check: AccessCheck, log: Logger): AccessGate {
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
