import { createRequire } from 'node:module';
import type { RateLimiterMemory as Memory, RateLimiterRes as Res } from 'rate-limiter-flexible';

// The package's index loads every store it supports (Redis, Mongo, SQL...):
// 20 ms of cold start for code a memory store never runs. Load just this one.
const require = createRequire(import.meta.url);
const RateLimiterMemory =
  require('rate-limiter-flexible/lib/RateLimiterMemory.js') as typeof Memory;
const RateLimiterRes = require('rate-limiter-flexible/lib/RateLimiterRes.js') as typeof Res;

/**
 * A per-key budget of attempts in a fixed window. The relay reserves an
 * attempt before acting and refunds it on success, so concurrent attempts
 * from one key can never overshoot the budget (a check-then-spend would let
 * 64 simultaneous sockets each pass the check).
 *
 * This is the seam a shared (Redis) store plugs into for scale-out.
 */
export interface AttemptBudget {
  /** Spends one attempt; resolves false when the key's budget for the window is gone. */
  take(key: string): Promise<boolean>;
  /** Gives back an attempt that turned out to be a success. */
  refund(key: string): Promise<void>;
  /** Whether the key has spent its whole budget, without spending anything. */
  spent(key: string): Promise<boolean>;
  /** Forgets every key and clears the store's timers. */
  close(): void;
}

interface MemoryStorageInternals {
  _memoryStorage?: { _storage?: Map<string, unknown>; delete(key: string): boolean };
}

export function memoryBudget(points: number, windowMs: number): AttemptBudget {
  const limiter = new RateLimiterMemory({ points, duration: windowMs / 1000 });
  return {
    async take(key) {
      try {
        await limiter.consume(key);
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        throw err;
      }
    },
    async refund(key) {
      // After the window ended there is nothing to give back; rewarding an
      // absent key would hand it a bonus attempt in the next window.
      if ((await limiter.get(key)) !== null) await limiter.reward(key, 1);
    },
    async spent(key) {
      const res = await limiter.get(key);
      return res !== null && res.consumedPoints >= points;
    },
    close() {
      // The memory store keeps one (unref'd) timer per key and has no close();
      // delete() clears each one so a stopped relay leaves no timers behind.
      const storage = (limiter as unknown as MemoryStorageInternals)._memoryStorage;
      for (const key of [...(storage?._storage?.keys() ?? [])]) storage?.delete(key);
    },
  };
}
