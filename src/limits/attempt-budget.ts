import { lazyRequire } from '../lazy-require.js';
import type {
  RateLimiterAbstract,
  RateLimiterMemory as Memory,
  RateLimiterRes as Res,
} from 'rate-limiter-flexible';

// The package's index loads every store it supports (Redis, Mongo, SQL...):
// 20 ms of cold start for code a memory store never runs. Load just this one,
// and only when the first attempt needs it (~8 ms of a cold start under Bun).
let memoryClass: typeof Memory | undefined;
let resClass: typeof Res | undefined;
export const rateLimiterMemory = (): typeof Memory =>
  (memoryClass ??= lazyRequire<typeof Memory>('rate-limiter-flexible/lib/RateLimiterMemory.js'));
const rateLimiterRes = (): typeof Res =>
  (resClass ??= lazyRequire<typeof Res>('rate-limiter-flexible/lib/RateLimiterRes.js'));

/**
 * A per-key budget of failed attempts in a fixed window, on a
 * rate-limiter-flexible store (memory here; Redis for scale-out). Successes
 * never touch the store; failures spend.
 */
export interface AttemptBudget {
  /** Starts an attempt; false when the key's budget is gone (spent, or held by attempts still running). */
  begin(key: string): Promise<boolean>;
  /** Finishes an attempt begun with begin(): a failure spends it, a success costs nothing. */
  end(key: string, failed: boolean): Promise<void>;
  /** Spends one attempt at once; false when that went over the budget. */
  spend(key: string): Promise<boolean>;
  /** Whether the key has spent its whole budget, without spending anything. */
  spent(key: string): Promise<boolean>;
  /** Forgets every key and clears the store's timers. */
  close(): void;
}

type MemoryStorage = { _storage?: Map<string, unknown>; delete(key: string): boolean };

/** Clears a memory limiter's per-key timers: it has no close() of its own. */
export function clearMemoryLimiter(limiter: Memory): void {
  const storage = (limiter as unknown as { _memoryStorage?: MemoryStorage })._memoryStorage;
  for (const key of [...(storage?._storage?.keys() ?? [])]) storage?.delete(key);
}

export function memoryBudget(points: number, windowMs: number): AttemptBudget {
  let limiter: Memory | undefined;
  const make = (): Memory =>
    (limiter ??= new (rateLimiterMemory())({ points, duration: windowMs / 1000 }));
  return limiterBudget(
    make,
    points,
    () => {
      if (limiter !== undefined) clearMemoryLimiter(limiter);
    },
    // Until a first failure there is nothing to read: a relay whose clients
    // all pair never loads the store (~3 MB of a Bun process's RSS).
    () => limiter,
  );
}

export function limiterBudget(
  store: () => RateLimiterAbstract,
  points: number,
  clear: () => void,
  /** The store if it holds anything yet; undefined when nothing was ever spent. */
  existing: () => RateLimiterAbstract | undefined = store,
): AttemptBudget {
  // Attempts begun and not yet ended, per key. Counting them closes the gap
  // between check and spend: 64 sockets from one address guessing at the same
  // instant still get only the budget, not 64 tries.
  const running = new Map<string, number>();
  const release = (key: string): void => {
    const left = (running.get(key) ?? 1) - 1;
    if (left === 0) running.delete(key);
    else running.set(key, left);
  };
  const consumed = async (key: string): Promise<number> => {
    const limiter = existing();
    return limiter === undefined ? 0 : ((await limiter.get(key))?.consumedPoints ?? 0);
  };
  return {
    async begin(key) {
      const ticket = (running.get(key) ?? 0) + 1;
      running.set(key, ticket);
      try {
        if ((await consumed(key)) + ticket <= points) return true;
      } catch {
        // A store that cannot answer cannot vouch for the key either.
      }
      release(key);
      return false;
    },
    async end(key, failed) {
      try {
        if (failed) await store().consume(key);
      } catch {
        // Rejected (already over budget) or the store is away: nothing to add.
      } finally {
        release(key);
      }
    },
    async spend(key) {
      try {
        await store().consume(key);
        return true;
      } catch (err) {
        if (err instanceof rateLimiterRes()) return false;
        throw err;
      }
    },
    async spent(key) {
      return (await consumed(key)) >= points;
    },
    close() {
      running.clear();
      clear();
    },
  };
}
