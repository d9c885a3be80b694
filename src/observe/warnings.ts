import type { ResolvedOptions } from '../config/options.js';
import { trustsNoProxy } from '../config/trust-proxy.js';
import type { Logger } from './logger.js';
import type { RelayEvents } from './events.js';

/** The misconfigurations the relay can see from its own traffic. */
export type WarningCause = 'forwarded_ignored' | 'forwarded_missing' | 'shared_client_key';

// Once per cause, then at most once an hour with how often it was seen since:
// a log line per request would bury everything else (and cost I/O under load).
const REPEAT_MS = 60 * 60_000;
// Sessions per client key are counted in a fixed table, a count-min sketch:
// two rows of counters, each key hashed into one counter per row, its count
// the smaller of the two. No memory per address (the relay keeps nothing per
// idle session for this), a flood of distinct addresses cannot grow it, and a
// count is never under the truth: with thousands of addresses a window it is
// over by a session or two at most, far below any useful threshold.
const SKETCH_WIDTH = 4096;
const SATURATED = 0xffff;

/** FNV-1a over a string's UTF-16 code units, from a per-row seed. */
function fnv1a(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface WarningOptions {
  /** The trust-proxy setting as the user knows it: the option, flag or variable. */
  trustSetting: string;
  /** The failed-attempts-per-address setting, likewise. */
  attemptsSetting: string;
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
  private readonly sessionCounts = new Uint16Array(2 * SKETCH_WIDTH);
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
    const setting = this.opts.trustSetting;
    if (forwardedFor && !this.opts.trustsProxy) {
      this.warn(
        'forwarded_ignored',
        { setting },
        `upgrades carry X-Forwarded-For but trust proxy is off: every client behind that proxy shares one rate-limit bucket. If your proxy adds the header, set ${setting} to 1, or its hop count`,
      );
    } else if (!forwardedFor && this.opts.trustsProxy) {
      this.warn(
        'forwarded_missing',
        { setting },
        `trust proxy is on but an upgrade arrived with no X-Forwarded-For: the relay is reachable around its proxy (and clients can then write their own address), or the proxy does not add the header. Unset ${setting} if nothing is in front`,
      );
    }
  }

  /** A session opened (`listen` acknowledged) for this client key. */
  sessionOpened(key: string): void {
    const limit = this.opts.sharedKeySessions;
    if (limit === 0) return;
    const now = this.now();
    if (now - this.windowStart >= this.opts.windowMs) {
      this.sessionCounts.fill(0);
      this.windowStart = now;
    }
    const counts = this.sessionCounts;
    const a = fnv1a(key, 0x811c9dc5) % SKETCH_WIDTH;
    const b = SKETCH_WIDTH + (fnv1a(key, 0x01234567) % SKETCH_WIDTH);
    if (counts[a]! < SATURATED) counts[a]!++;
    if (counts[b]! < SATURATED) counts[b]!++;
    const count = Math.min(counts[a]!, counts[b]!);
    if (count !== limit) return;
    // The address is what the operator needs here: it is the proxy's, or a NAT's.
    this.warn(
      'shared_client_key',
      {
        setting: this.opts.trustSetting,
        client: key,
        sessions: count,
        windowMs: this.opts.windowMs,
      },
      `many sessions from one client address: if it is your proxy's, every client behind it shares one rate-limit bucket (set ${this.opts.trustSetting}); if it is a NAT, raise ${this.opts.attemptsSetting}`,
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

/** The warnings for a relay's settings, named as the user set them. */
export function warningsFor(
  opts: ResolvedOptions,
  log: Logger,
  events: RelayEvents,
): MisconfigWarnings {
  return new MisconfigWarnings(log, events, {
    trustsProxy: !trustsNoProxy(opts.trustProxy),
    trustSetting: opts.names.trustProxy,
    attemptsSetting: opts.names.failedAttemptsPerIp,
    sharedKeySessions: opts.sharedKeyWarnSessions,
    windowMs: opts.failedAttemptWindowMs,
  });
}
