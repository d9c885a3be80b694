import type { Logger } from '../observe/logger.js';
import type { SharedStore } from './shared-store.js';

/** How often the fingerprints are written and read. */
const CHECK_EVERY_MS = 2_000;
/** A fingerprint whose value has not changed for this long has no live writer. */
const LIVE_FOR_MS = 3 * CHECK_EVERY_MS;
/** Stale fingerprints (a rotation, a fixed mismatch) are dropped after this long. */
const FORGET_AFTER_MS = 30_000;
/** The hash itself goes when no instance writes it any more. */
const KEY_TTL_MS = 60_000;

interface Seen {
  value: string;
  since: number;
  /** When its value last changed under our eyes (0: not yet). */
  changedAt: number;
}

/**
 * Instances sharing a Redis and a prefix but not a RELAY_REDIS_SECRET cannot
 * find each other's codes, and nothing else would say so. Each instance
 * writes its secret's fingerprint (an HMAC of a fixed label, never the
 * secret) as a field of one hash, with a value that changes on every write;
 * a foreign field whose value keeps changing has a live writer under another
 * secret. The value changing, not a timestamp, is the sign of life, so clock
 * skew between hosts does not matter; one hash in one slot, one round trip
 * per check, whatever the number of instances.
 */
export class SecretCheck {
  private readonly seen = new Map<string, Seen>();
  private writes = 0;
  private lastCheck = 0;
  private foreign = 0;

  constructor(
    private readonly store: SharedStore,
    private readonly log: Logger,
  ) {}

  /** How many other secrets are in live use under this prefix (0 when all is well). */
  get foreignSecrets(): number {
    return this.foreign;
  }

  /** Checks if one is due; rejects only if Redis failed (the next tick tries again). */
  async maybeCheck(now = Date.now()): Promise<void> {
    if (now - this.lastCheck < CHECK_EVERY_MS) return;
    this.lastCheck = now;
    const { command, fingerprint, instanceId } = this.store;
    const key = this.store.fingerprintsKey();
    const results = await command
      .multi()
      .hset(key, fingerprint, `${instanceId}.${++this.writes}`)
      .pexpire(key, KEY_TTL_MS)
      .hgetall(key)
      .exec();
    const all = results?.[2]?.[1] as Record<string, string> | undefined;
    if (all === undefined) return;
    this.update(all, now);
  }

  private update(all: Record<string, string>, now: number): void {
    let live = 0;
    for (const [print, value] of Object.entries(all)) {
      if (print === this.store.fingerprint) continue;
      const before = this.seen.get(print);
      if (before === undefined) {
        // First sight: alive or left over, the next read tells.
        this.seen.set(print, { value, since: now, changedAt: 0 });
        continue;
      }
      if (before.value !== value) {
        before.value = value;
        before.changedAt = now;
      }
      if (before.changedAt !== 0 && now - before.changedAt <= LIVE_FOR_MS) live++;
      else if (now - Math.max(before.since, before.changedAt) > FORGET_AFTER_MS) {
        this.seen.delete(print);
        this.store.command.hdel(this.store.fingerprintsKey(), print).catch(() => undefined);
      }
    }
    for (const print of this.seen.keys()) if (!(print in all)) this.seen.delete(print);
    if (live > 0 && this.foreign === 0) {
      this.log.error(
        { setting: 'RELAY_REDIS_SECRET', otherSecrets: live },
        'another instance on this Redis and prefix runs with a different RELAY_REDIS_SECRET: ' +
          'pairings across the two fail with otc_not_found. Generate the secret once and give ' +
          'every replica the same value (docs/scale-out.md)',
      );
    } else if (live === 0 && this.foreign > 0) {
      this.log.info({ setting: 'RELAY_REDIS_SECRET' }, 'every instance now shares one secret');
    }
    this.foreign = live;
  }
}
