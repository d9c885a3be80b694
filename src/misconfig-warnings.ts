import type { Logger } from './logger.js';
import type { RelayEvents } from './events.js';

/** The misconfigurations the relay can see from its own traffic. */
export type WarningCause = 'forwarded_ignored' | 'forwarded_missing' | 'shared_client_key';

// Once per cause, then at most once an hour with how often it was seen since:
// a log line per request would bury everything else (and cost I/O under load).
const REPEAT_MS = 60 * 60_000;
// Bounds the per-key session counts between window resets (a flood of
// distinct addresses must not grow memory).
const MAX_TRACKED_KEYS = 10_000;

const TRUST = { setting: 'AMESH_TRUST_PROXY', flag: '--trust-proxy' };

export interface WarningOptions {
  /** Whether trust proxy is on (some X-Forwarded-For entry can become the key). */
  trustsProxy: boolean;
  /** Sessions from one key within the window that look like a shared key (0 = never). */
  sharedKeySessions: number;
  windowMs: number;
  now?: () => number;
}

/**
 * Warnings an operator can act on, each naming the setting to change. Fed
 * by upgrades and session opens only: health checks from a load balancer
 * carry no X-Forwarded-For, and must not look like a misconfiguration.
 */
export class MisconfigWarnings {
  private readonly last = new Map<WarningCause, { at: number; since: number }>();
  private sessionsPerKey = new Map<string, number>();
  private windowStart: number;
  private readonly now: () => number;

  constructor(
    private readonly log: Logger,
    private readonly events: RelayEvents,
    private readonly opts: WarningOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.windowStart = this.now();
  }

  /** An upgrade, with or without an X-Forwarded-For header. */
  upgrade(forwardedFor: boolean): void {
    if (forwardedFor && !this.opts.trustsProxy) {
      this.warn(
        'forwarded_ignored',
        TRUST,
        'upgrades carry X-Forwarded-For but trust proxy is off: every client behind that proxy shares one rate-limit bucket. If your proxy adds the header, set AMESH_TRUST_PROXY=1 (--trust-proxy 1), or its hop count',
      );
    } else if (!forwardedFor && this.opts.trustsProxy) {
      this.warn(
        'forwarded_missing',
        TRUST,
        'trust proxy is on but an upgrade arrived with no X-Forwarded-For: the relay is reachable around its proxy (and clients can then write their own address), or the proxy does not add the header. Unset AMESH_TRUST_PROXY (--trust-proxy) if nothing is in front',
      );
    }
  }

  /** A session opened (`listen` acknowledged) for this client key. */
  sessionOpened(key: string): void {
    const limit = this.opts.sharedKeySessions;
    if (limit === 0) return;
    const now = this.now();
    if (
      now - this.windowStart >= this.opts.windowMs ||
      this.sessionsPerKey.size >= MAX_TRACKED_KEYS
    ) {
      this.sessionsPerKey = new Map();
      this.windowStart = now;
    }
    const count = (this.sessionsPerKey.get(key) ?? 0) + 1;
    this.sessionsPerKey.set(key, count);
    if (count !== limit) return;
    // The address is what the operator needs here: it is the proxy's, or a NAT's.
    this.warn(
      'shared_client_key',
      { ...TRUST, client: key, sessions: count, windowMs: this.opts.windowMs },
      `many sessions from one client address: if it is your proxy's, every client behind it shares one rate-limit bucket (set AMESH_TRUST_PROXY / --trust-proxy); if it is a NAT, raise RELAY_FAILED_ATTEMPTS_PER_IP`,
    );
  }

  private warn(cause: WarningCause, fields: Record<string, unknown>, msg: string): void {
    const now = this.now();
    const seen = this.last.get(cause);
    if (seen !== undefined && now - seen.at < REPEAT_MS) {
      seen.since++;
      return;
    }
    this.last.set(cause, { at: now, since: 0 });
    this.events.warned(cause);
    this.log.warn({ cause, ...fields, seenSinceLast: seen?.since }, msg);
  }
}
