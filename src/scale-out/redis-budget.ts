import { createRequire } from 'node:module';
import type {
  RateLimiterMemory as Memory,
  RateLimiterRedis as RedisLimiter,
  RateLimiterRes as Res,
} from 'rate-limiter-flexible';
import type { AttemptBudget } from '../rate-limit.js';
import type { SharedStore } from './shared-store.js';

const require = createRequire(import.meta.url);

/**
 * An attempt budget shared by every replica, in Redis; while Redis is away a
 * per-instance memory limiter (rate-limiter-flexible's insurance) stands in.
 * Redis windows are whole seconds (EX), so the window is rounded up.
 * `hashKeys` HMACs keys that must not reach Redis in clear (codes).
 */
export function redisBudget(
  store: SharedStore,
  name: string,
  points: number,
  windowMs: number,
  hashKeys: boolean,
): AttemptBudget {
  const RateLimiterRedis =
    require('rate-limiter-flexible/lib/RateLimiterRedis.js') as typeof RedisLimiter;
  const RateLimiterMemory =
    require('rate-limiter-flexible/lib/RateLimiterMemory.js') as typeof Memory;
  const RateLimiterRes = require('rate-limiter-flexible/lib/RateLimiterRes.js') as typeof Res;
  const duration = Math.max(1, Math.ceil(windowMs / 1000));
  const insurance = new RateLimiterMemory({ points, duration });
  const limiter = new RateLimiterRedis({
    storeClient: store.command,
    points,
    duration,
    keyPrefix: `pr:rl:${name}`,
    rejectIfRedisNotReady: true,
    insuranceLimiter: insurance,
  });
  const k = (key: string): string => (hashKeys ? store.key('k', key) : key);
  return {
    async take(key) {
      try {
        await limiter.consume(k(key));
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        throw err;
      }
    },
    async refund(key) {
      if ((await limiter.get(k(key))) !== null) await limiter.reward(k(key), 1);
    },
    async spent(key) {
      const res = await limiter.get(k(key));
      return res !== null && res.consumedPoints >= points;
    },
    close() {
      const storage = (
        insurance as unknown as {
          _memoryStorage?: { _storage?: Map<string, unknown>; delete(k: string): boolean };
        }
      )._memoryStorage;
      for (const key of [...(storage?._storage?.keys() ?? [])]) storage?.delete(key);
    },
  };
}
