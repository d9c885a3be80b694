import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { clearMemoryLimiter, limiterBudget, type AttemptBudget } from '../limits/attempt-budget.js';
import type { SharedStore } from './shared-store.js';

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
  const duration = Math.max(1, Math.ceil(windowMs / 1000));
  const insurance = new RateLimiterMemory({ points, duration });
  const limiter = new RateLimiterRedis({
    storeClient: store.command,
    points,
    duration,
    keyPrefix: `${store.prefix}rl:${name}`,
    rejectIfRedisNotReady: true,
    insuranceLimiter: insurance,
  });
  const budget = limiterBudget(limiter, points, () => clearMemoryLimiter(insurance));
  if (!hashKeys) return budget;
  const k = (key: string): string => store.key('k', key);
  return {
    begin: (key) => budget.begin(k(key)),
    end: (key, failed) => budget.end(k(key), failed),
    spend: (key) => budget.spend(k(key)),
    spent: (key) => budget.spent(k(key)),
    close: () => budget.close(),
  };
}
