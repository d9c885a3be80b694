import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { RelayOptions } from '../src/index.js';
import { NO_EVENTS } from '../src/observe/events.js';
import type { Logger } from '../src/observe/logger.js';
import { MisconfigWarnings } from '../src/observe/warnings.js';
import { cleanup, pair, startRelay, upgradeStatus } from './helpers/relay.js';
import { transport } from './helpers/transports.js';

afterEach(cleanup);

type Line = Record<string, unknown>;

/** A relay logging at warn into an array of parsed lines. */
async function relayWithLog(options: RelayOptions): Promise<{
  url: string;
  httpUrl: (path: string) => string;
  warnings: () => Line[];
  /** Stops the relay: a Bun-hosted one answers on the pipe its log lines take, so all have arrived. */
  settle: () => Promise<void>;
}> {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  const started = await startRelay({ logger: pino({ level: 'warn' }, sink), ...options });
  return {
    ...started,
    warnings: () => lines.filter((l) => typeof l['cause'] === 'string'),
    settle: () => started.relay.stop(),
  };
}

describe.skipIf(!transport.has('logs'))(
  'misconfiguration warnings (needs the relay log lines)',
  () => {
    it('X-Forwarded-For while trust proxy is off: one warning naming the trustProxy option, not one per request', async ({
      skip,
    }) => {
      skip(!transport.has('metrics'), 'needs /metrics, where the warning is counted');
      const { url, httpUrl, warnings, settle } = await relayWithLog({ metrics: true });
      for (let i = 0; i < 6; i++) {
        expect(await upgradeStatus(url, { 'x-forwarded-for': `203.0.113.${i}` })).toBe(101);
      }
      const metrics = await (await fetch(httpUrl('/metrics'))).text();
      expect(metrics).toMatch(/pairing_relay_warnings_total\{cause="forwarded_ignored"\} 1/);
      await settle();
      expect(warnings()).toHaveLength(1);
      const [w] = warnings();
      expect(w?.['cause']).toBe('forwarded_ignored');
      // Set through the library: named as the library's option, not the CLI's variable.
      expect(w?.['setting']).toBe('trustProxy');
      expect(w?.['msg']).not.toMatch(/AMESH_TRUST_PROXY|--trust-proxy/);
      expect(w?.['msg']).toMatch(/every client behind that proxy shares one rate-limit bucket/);
    });

    it('trust proxy on but upgrades without X-Forwarded-For: one warning', async () => {
      const { url, warnings, settle } = await relayWithLog({ trustProxy: 1 });
      for (let i = 0; i < 6; i++) expect(await upgradeStatus(url)).toBe(101);
      await settle();
      expect(warnings().map((w) => w['cause'])).toEqual(['forwarded_missing']);
      expect(warnings()[0]?.['msg']).toMatch(/Unset trustProxy /);
    });

    it('no warning when the setting fits the traffic, and health checks never count', async () => {
      const direct = await relayWithLog({});
      const proxied = await relayWithLog({ trustProxy: 1 });
      for (let i = 0; i < 3; i++) {
        expect(await upgradeStatus(direct.url)).toBe(101);
        expect(await upgradeStatus(proxied.url, { 'x-forwarded-for': '203.0.113.7' })).toBe(101);
        // A load balancer's probes: with X-Forwarded-For on a no-trust relay, without on a trusting one.
        await fetch(direct.httpUrl('/health'), { headers: { 'x-forwarded-for': '203.0.113.7' } });
        await fetch(proxied.httpUrl('/health'));
      }
      await direct.settle();
      await proxied.settle();
      expect(direct.warnings()).toEqual([]);
      expect(proxied.warnings()).toEqual([]);
    });

    it('many sessions from one client key: one warning with the address, at the threshold', async () => {
      const { url, warnings, settle } = await relayWithLog({ sharedKeyWarnSessions: 3 });
      for (let i = 0; i < 6; i++) {
        const { target, controller } = await pair(url, `70000${i}`);
        controller.send({ type: 'done' });
        await target.next();
      }
      await settle();
      expect(warnings()).toHaveLength(1);
      const [w] = warnings();
      expect(w?.['cause']).toBe('shared_client_key');
      expect(w?.['client']).toBe('127.0.0.1');
      expect(w?.['sessions']).toBe(3);
      expect(w?.['msg']).toMatch(/set trustProxy\).*raise failedAttemptsPerIp/);
    });

    it('sharedKeyWarnSessions 0 turns that warning off', async () => {
      const { url, warnings, settle } = await relayWithLog({ sharedKeyWarnSessions: 0 });
      for (let i = 0; i < 3; i++) {
        const { target, controller } = await pair(url, `71000${i}`);
        controller.send({ type: 'done' });
        await target.next();
      }
      await settle();
      expect(warnings()).toEqual([]);
    });
  },
);

describe('shared-key counting (no relay needed)', () => {
  function counter(limit: number): { opened: (key: string) => void; warned: string[] } {
    const warned: string[] = [];
    const log = {
      warn: (fields: Record<string, unknown>) => warned.push(String(fields['client'])),
    } as unknown as Logger;
    const w = new MisconfigWarnings(log, NO_EVENTS, {
      trustsProxy: true,
      trustSetting: 'trustProxy',
      attemptsSetting: 'failedAttemptsPerIp',
      sharedKeySessions: limit,
      windowMs: 60_000,
    });
    return { opened: (key) => w.sessionOpened(key), warned };
  }

  it('20,000 addresses with one session each stay quiet; the one with 50 is named, once', () => {
    const { opened, warned } = counter(50);
    for (let i = 0; i < 20_000; i++) opened(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(warned).toEqual([]);
    for (let i = 0; i < 60; i++) opened('203.0.113.7');
    expect(warned).toEqual(['203.0.113.7']);
  });
});
