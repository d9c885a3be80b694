// Transport-independent: the throttled log alone, on a clock of the test's own.
import { describe, expect, it } from 'vitest';
import { ThrottledLog } from '../src/observe/throttled-log.js';
import { captureLog } from './helpers/log-capture.js';

describe('refusals that name an address', () => {
  it('are logged once per address per 10 s, the next line saying how many were skipped', () => {
    let now = 1_000_000;
    const { logger: log, lines } = captureLog('warn');
    const refusals = new ThrottledLog(log, () => now);
    for (let i = 0; i < 500; i++) refusals.warn('192.0.2.1', { action: 'connect' }, 'rate limited');
    refusals.warn('192.0.2.2', { action: 'connect' }, 'rate limited');
    refusals.warn('192.0.2.1', {}, 'per-address socket cap reached');
    expect(lines().map((l) => [l['client'], l['msg']])).toEqual([
      ['192.0.2.1', 'rate limited'],
      ['192.0.2.2', 'rate limited'],
      ['192.0.2.1', 'per-address socket cap reached'],
    ]);
    now += 9_999;
    refusals.warn('192.0.2.1', { action: 'connect' }, 'rate limited');
    expect(lines()).toHaveLength(3);
    now += 1;
    refusals.warn('192.0.2.1', { action: 'connect' }, 'rate limited');
    expect(lines()[3]).toMatchObject({ client: '192.0.2.1', action: 'connect', skipped: 500 });
    // A refusal of everyone names no address.
    refusals.warn(undefined, { sockets: 10 }, 'socket cap reached');
    expect(lines()[4]).not.toHaveProperty('client');
  });

  it('retries whose error text changes (Redis away) are one line per while, not one per retry', () => {
    let now = 0;
    const { logger: log, lines } = captureLog('warn');
    const throttled = new ThrottledLog(log, () => now);
    for (let i = 0; i < 100; i++) {
      throttled.warn(
        undefined,
        { err: i % 2 === 0 ? 'read ECONNRESET' : 'write ECONNRESET' },
        'redis unreachable',
      );
      now += 100;
    }
    // 10 s of retries: the first line, then one more at 10 s with the count skipped.
    expect(lines().map((l) => l['skipped'])).toEqual([undefined]);
    throttled.warn(undefined, { err: 'after 700ms' }, 'redis unreachable');
    expect(lines()[1]).toMatchObject({ err: 'after 700ms', skipped: 99 });
  });

  it('forget the oldest address past 10,000, so memory stays bounded', () => {
    const { logger: log, lines } = captureLog('warn');
    const refusals = new ThrottledLog(log, () => 0);
    for (let i = 0; i <= 10_000; i++) refusals.warn(`k${i}`, {}, 'rate limited');
    // k0 was forgotten: logged again; k10000 is still remembered.
    refusals.warn('k0', {}, 'rate limited');
    refusals.warn('k10000', {}, 'rate limited');
    expect(lines()).toHaveLength(10_002);
  });
});
