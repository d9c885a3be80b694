import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

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

/**
 * Forgets every key of a memory limiter, through its public dump() and
 * delete(): it has no close() of its own, and each key holds a timer (unref'd,
 * so none keeps the process alive) until its window ends.
 */
export function clearMemoryLimiter(limiter: RateLimiterMemory): void {
  for (const { key } of limiter.dump().storage) void limiter.delete(key);
}

export function memoryBudget(points: number, windowMs: number): AttemptBudget {
  const limiter = new RateLimiterMemory({ points, duration: windowMs / 1000 });
  return limiterBudget(limiter, points, () => clearMemoryLimiter(limiter));
}

export function limiterBudget(
  store: RateLimiterAbstract,
  points: number,
  clear: () => void,
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
  const consumed = async (key: string): Promise<number> =>
    (await store.get(key))?.consumedPoints ?? 0;
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
        if (failed) await store.consume(key);
      } catch {
        // Rejected (already over budget) or the store is away: nothing to add.
      } finally {
        release(key);
      }
    },
    async spend(key) {
      try {
        await store.consume(key);
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
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
