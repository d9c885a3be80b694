// Transport-independent: the in-memory failure budget under fake timers, in this process; no socket.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryBudget } from '../src/limits/attempt-budget.js';

const WINDOW_MS = 60_000;

describe('the in-memory attempt budget', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers at once for a key that has spent nothing: no frame waits on the store', () => {
    const budget = memoryBudget(5, WINDOW_MS);
    expect(budget.begin('a')).toBe(true);
    expect(budget.end('a', false)).toBeUndefined();
    expect(budget.spent('a')).toBe(false);
    budget.close();
  });

  it('still counts attempts in flight when it answers at once', () => {
    const budget = memoryBudget(2, WINDOW_MS);
    expect([budget.begin('a'), budget.begin('a'), budget.begin('a')]).toEqual([true, true, false]);
    budget.end('a', false);
    expect(budget.begin('a')).toBe(true);
    budget.close();
  });

  it('asks the store once a key has spent, and refuses it when its budget is gone', async () => {
    const budget = memoryBudget(2, WINDOW_MS);
    for (let i = 0; i < 2; i++) {
      expect(await budget.begin('a')).toBe(true);
      await budget.end('a', true);
    }
    const begun = budget.begin('a');
    expect(begun).toBeInstanceOf(Promise);
    expect(await begun).toBe(false);
    expect(await budget.spent('a')).toBe(true);
    // Another key is untouched, and still answered at once.
    expect(budget.begin('b')).toBe(true);
    budget.close();
  });

  it('a failure the store is still counting is not counted twice', async () => {
    const budget = memoryBudget(5, WINDOW_MS);
    // Four failures sent, none answered yet (the store is not even loaded):
    // a fifth attempt must still be let in, and only then is the budget gone.
    for (let i = 0; i < 4; i++) {
      expect(await budget.begin('a')).toBe(true);
      void budget.end('a', true);
    }
    expect(await budget.begin('a')).toBe(true);
    expect(await budget.begin('a')).toBe(false);
    budget.close();
  });

  it('a spend counts at once, before the store has answered', async () => {
    const budget = memoryBudget(1, WINDOW_MS);
    const spending = budget.spend('a');
    // Not yet resolved: a begin() in the same turn must still see the spend.
    expect(await budget.begin('a')).toBe(false);
    expect(await spending).toBe(true);
    expect(await budget.spend('a')).toBe(false);
    budget.close();
  });

  it('a key that spent is answered at once again, with its whole budget, after the window', async () => {
    const budget = memoryBudget(1, WINDOW_MS);
    await budget.spend('a');
    expect(await budget.spent('a')).toBe(true);
    vi.advanceTimersByTime(WINDOW_MS);
    expect(budget.spent('a')).toBe(false);
    expect(budget.begin('a')).toBe(true);
    budget.close();
  });

  it('close() forgets every key', async () => {
    const budget = memoryBudget(1, WINDOW_MS);
    await budget.spend('a');
    budget.close();
    expect(budget.spent('a')).toBe(false);
  });
});
