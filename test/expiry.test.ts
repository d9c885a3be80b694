// Transport-independent: ExpiryQueue under fake timers, in this process; no socket.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SYSTEM_CLOCK } from '../src/core/clock.js';
import { ExpiryQueue, type Expiring } from '../src/core/expiry.js';

const item = (name: string): Expiring & { name: string } => ({
  name,
  expiresAt: 0,
  expiry: null,
  slot: -1,
});

describe('ExpiryQueue (one timer for many same-TTL deadlines)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires items in order, each at its own deadline, and leaves no timer when empty', () => {
    const fired: string[] = [];
    const q = new ExpiryQueue<ReturnType<typeof item>>(SYSTEM_CLOCK, 'session_ttl', 1000, (i) =>
      fired.push(i.name),
    );
    q.add(item('a'), Date.now());
    vi.advanceTimersByTime(400);
    q.add(item('b'), Date.now());
    vi.advanceTimersByTime(599);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a']);
    vi.advanceTimersByTime(400);
    expect(fired).toEqual(['a', 'b']);
    expect(q.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an item removed early never fires and frees its slot; the last removal clears the timer', () => {
    const fired: string[] = [];
    const q = new ExpiryQueue<ReturnType<typeof item>>(SYSTEM_CLOCK, 'session_ttl', 1000, (i) =>
      fired.push(i.name),
    );
    const a = item('a');
    const b = item('b');
    q.add(a, Date.now());
    q.add(b, Date.now());
    q.remove(a);
    expect(a.expiry).toBeNull();
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual(['b']);
    const c = item('c');
    q.add(c, Date.now());
    q.remove(c);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('moving an item to another queue takes it out of the first', () => {
    const fired: string[] = [];
    const short = new ExpiryQueue<ReturnType<typeof item>>(SYSTEM_CLOCK, 'session_ttl', 100, (i) =>
      fired.push(`short:${i.name}`),
    );
    const long = new ExpiryQueue<ReturnType<typeof item>>(SYSTEM_CLOCK, 'session_ttl', 1000, (i) =>
      fired.push(`long:${i.name}`),
    );
    const a = item('a');
    short.add(a, Date.now());
    vi.advanceTimersByTime(50);
    long.add(a, Date.now());
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(900);
    expect(fired).toEqual(['long:a']);
  });

  it('keeps working across compactions (slots renumbered) with items added while expiring', () => {
    const fired: string[] = [];
    const q = new ExpiryQueue<ReturnType<typeof item>>(SYSTEM_CLOCK, 'session_ttl', 1000, (i) => {
      fired.push(i.name);
      if (i.name === 'x50') q.add(item('late'), Date.now());
    });
    const keep: Array<ReturnType<typeof item>> = [];
    for (let n = 0; n < 200; n++) {
      const it = item(`x${n}`);
      q.add(it, Date.now());
      if (n % 3 === 0) keep.push(it);
      vi.advanceTimersByTime(1);
    }
    for (const it of keep) q.remove(it);
    vi.advanceTimersByTime(2000);
    expect(fired).toHaveLength(200 - keep.length + 1);
    expect(fired).toContain('late');
    expect(fired.some((name) => keep.some((k) => k.name === name))).toBe(false);
    expect(q.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
