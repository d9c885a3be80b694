import type { RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Answer } from './answer.js';

/**
 * A per-key budget of failed attempts in a fixed window, on a
 * rate-limiter-flexible store (memory here; Redis for scale-out). Successes
 * never touch the store; failures spend. A store that cannot answer never
 * makes begin() or spent() throw: begin() refuses, spent() says no.
 */
export interface AttemptBudget {
  /** Starts an attempt; false when the key's budget is gone (spent, or held by attempts still running). */
  begin(key: string): Answer<boolean>;
  /** Finishes an attempt begun with begin(): a failure spends it, a success costs nothing. */
  end(key: string, failed: boolean): Answer<void>;
  /** Spends one attempt at once; false when that went over the budget. */
  spend(key: string): Promise<boolean>;
  /** Whether the key has spent its whole budget, without spending anything. */
  spent(key: string): Answer<boolean>;
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

/**
 * The keys that spent anything in the last window, so that a key which
 * spent nothing (every client pairing normally) is answered without asking
 * the store: rate-limiter-flexible's get() is promise-only, even in memory.
 * A key is noted before the store counts it, and kept a whole window from
 * then, at least as long as the store's own fixed window holds it, so the
 * shortcut can only ever send a key to the store, never let one skip it.
 */
class RecentSpenders {
  private readonly since = new Map<string, number>();
  private sweepAt = 1024;

  constructor(private readonly windowMs: number) {}

  note(key: string): void {
    this.since.delete(key);
    this.since.set(key, Date.now());
    if (this.since.size >= this.sweepAt) this.sweep();
  }

  /** False when the key has surely spent nothing in the store's current window. */
  has(key: string): boolean {
    const at = this.since.get(key);
    if (at === undefined) return false;
    if (Date.now() - at < this.windowMs) return true;
    this.since.delete(key);
    return false;
  }

  clear(): void {
    this.since.clear();
  }

  // Oldest first (note() re-inserts), so a sweep stops at the first live
  // key; the next one waits for twice what is left: amortised O(1) a note.
  private sweep(): void {
    const cutoff = Date.now() - this.windowMs;
    for (const [key, at] of this.since) {
      if (at >= cutoff) break;
      this.since.delete(key);
    }
    this.sweepAt = Math.max(1024, this.since.size * 2);
  }
}

const nothing = (): void => undefined;

/** What a budget asks of its rate-limiter-flexible store. */
export type Limiter = Pick<RateLimiterAbstract, 'get' | 'consume'>;

/**
 * A RateLimiterMemory made at the first attempt that spends, with
 * rate-limiter-flexible loaded then: until a key spends, RecentSpenders
 * answers for every key, so a relay that has seen no failure has not loaded
 * the library. Loading it is ~21 ms of a cold start on Node and on Bun
 * (its entry requires every store it has, Redis, Mongo, SQL ...), a tenth of
 * a scale-to-zero start on Node and a third on Bun (docs/benchmarks.md).
 */
function memoryLimiter(points: number, windowMs: number): Limiter & { clear(): void } {
  let made: Promise<RateLimiterMemory> | undefined;
  const load = (): Promise<RateLimiterMemory> =>
    (made ??= import('rate-limiter-flexible').then(
      ({ RateLimiterMemory }) => new RateLimiterMemory({ points, duration: windowMs / 1000 }),
    ));
  return {
    get: (key) => load().then((store) => store.get(key)),
    consume: (key) => load().then((store) => store.consume(key)),
    // After any call already waiting on the load: nothing is left behind it.
    clear: () => void made?.then(clearMemoryLimiter),
  };
}

export function memoryBudget(points: number, windowMs: number): AttemptBudget {
  const limiter = memoryLimiter(points, windowMs);
  return limiterBudget(limiter, points, () => limiter.clear(), new RecentSpenders(windowMs));
}

export function limiterBudget(
  store: Limiter,
  points: number,
  clear: () => void,
  recent?: RecentSpenders,
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
  const consumed = (key: string): Answer<number> =>
    recent?.has(key) === false ? 0 : store.get(key).then((res) => res?.consumedPoints ?? 0);
  const consume = (key: string): Promise<RateLimiterRes> => {
    recent?.note(key);
    return store.consume(key);
  };
  const decide = (key: string, ticket: number, used: number): boolean => {
    if (used + ticket <= points) return true;
    release(key);
    return false;
  };
  // The waits are functions of their own: a method holding an arrow would
  // make a scope object at every call, answered at once or not (pairing.ts).
  const decideLater = (key: string, ticket: number, used: Promise<number>): Promise<boolean> =>
    used.then(
      (n) => decide(key, ticket, n),
      // A store that cannot answer cannot vouch for the key either.
      () => decide(key, ticket, points),
    );
  const spendThenRelease = (key: string): Promise<void> => {
    const sent = consume(key);
    // Released as the spend is sent, not when it is answered: the store
    // answers a later get() after it (memory: one queue; Redis: one
    // connection per key), so from now on its count holds this attempt, and
    // `running` must not count it too, or a burst is refused under its budget.
    release(key);
    // Rejected (already over budget) or the store is away: nothing to add.
    return sent.then(nothing, nothing);
  };
  return {
    begin(key) {
      const ticket = (running.get(key) ?? 0) + 1;
      running.set(key, ticket);
      const used = consumed(key);
      return typeof used === 'number' ? decide(key, ticket, used) : decideLater(key, ticket, used);
    },
    end(key, failed) {
      return failed ? spendThenRelease(key) : release(key);
    },
    async spend(key) {
      try {
        await consume(key);
        return true;
      } catch (err) {
        // rate-limiter-flexible rejects with its RateLimiterRes when the
        // budget is gone, with an Error when the store failed.
        if (err instanceof Error) throw err;
        return false;
      }
    },
    spent(key) {
      const used = consumed(key);
      if (typeof used === 'number') return used >= points;
      return used.then(
        (n) => n >= points,
        // A store that cannot answer does not lock anyone out.
        () => false,
      );
    },
    close() {
      running.clear();
      recent?.clear();
      clear();
    },
  };
}
