import type { SharedStore } from './shared-store.js';

// Claims a key for this instance: free, already ours, or held by ARGV[3], an
// instance the caller found dead. Otherwise answers the holder. Only KEYS[1]
// is touched: in Cluster mode a script may not reach keys of other slots, so
// the holder's presence is read by the caller, in a call of its own.
const CLAIM = `local v = redis.call('get', KEYS[1])
if v == false or v == ARGV[1] or v == ARGV[3] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return v`;

const COMPARE_AND_DELETE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * Cluster-wide claims on codes and jtis: one key per claim, holding the
 * owning instance's id, always with a TTL. A release that cannot reach Redis
 * is remembered and retried, so an outage does not leave codes taken.
 */
export class Claims {
  private readonly unreleased = new Set<string>();

  constructor(private readonly store: SharedStore) {}

  /** True when this instance now holds the key; rejects when Redis cannot answer. */
  async claim(key: string, ttlMs: number): Promise<boolean> {
    const { command, instanceId } = this.store;
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const attempt = async (): Promise<boolean> => {
      let answer = await command.eval(CLAIM, 1, key, instanceId, ttl, '');
      // Held by another instance: a dead one's claim must not block the code.
      if (
        typeof answer === 'string' &&
        (await command.exists(this.store.presenceKey(answer))) === 0
      ) {
        answer = await command.eval(CLAIM, 1, key, instanceId, ttl, answer);
      }
      return answer === 1;
    };
    const won = await this.store.bounded(attempt());
    // A release still owed for this key must not delete the claim just taken back.
    if (won) this.unreleased.delete(key);
    return won;
  }

  release(key: string): void {
    this.unreleased.delete(key);
    this.store.command
      .eval(COMPARE_AND_DELETE, 1, key, this.store.instanceId)
      .catch(() => this.unreleased.add(key));
  }

  /** Retries releases that failed; rejects if Redis still cannot answer. */
  async retryReleases(): Promise<void> {
    const keys = [...this.unreleased];
    this.unreleased.clear();
    const { command, instanceId } = this.store;
    const results = await Promise.allSettled(
      keys.map((key) => command.eval(COMPARE_AND_DELETE, 1, key, instanceId)),
    );
    results.forEach((r, i) => {
      if (r.status === 'rejected') this.unreleased.add(keys[i] as string);
    });
    if (this.unreleased.size > 0) throw new Error('releases still pending');
  }
}
