import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACCESS_CHECK_MS } from '../src/admission/access-gate.js';
import { createAccessGate } from '../src/admission/access-tokens.js';
import { createRelayServer } from '../src/index.js';
import { SECRET } from './helpers/cluster.js';
import { hasRedis, startRedis } from './helpers/redis.js';
import { captureLog } from './helpers/log-capture.js';
import { transport } from './helpers/transports.js';
import {
  asClient,
  cleanup,
  eventually,
  pair,
  startRelay,
  upgradeStatus,
  wsConnect,
} from './helpers/relay.js';

afterEach(cleanup);

const TOKEN = 'gate-token-4f1c9e2ab7d3';
const OTHER = 'gate-token-other-88aa11';

describe('access-token gate', () => {
  it('off by default: an upgrade without a token is accepted', async () => {
    const { url } = await startRelay();
    expect(await upgradeStatus(url)).toBe(101);
  });

  it('401 without a token or with a wrong one; Bearer header or ?token= admits; /health and /ready open', async () => {
    const { url, httpUrl } = await startRelay({ accessTokens: [TOKEN, OTHER] });
    expect(await upgradeStatus(url)).toBe(401);
    expect(await upgradeStatus(url, { authorization: 'Bearer not-the-token-at-all' })).toBe(401);
    expect(await upgradeStatus(url, { authorization: `Basic ${TOKEN}` })).toBe(401);
    expect(await upgradeStatus(url, { authorization: `Bearer ${TOKEN}` })).toBe(101);
    expect(await upgradeStatus(url, { authorization: `bearer ${OTHER}` })).toBe(101);
    // The amesh CLI's form: wss://host/ws?token=... (the path still routes to /ws).
    expect(await upgradeStatus(`${url}?token=${encodeURIComponent(TOKEN)}`)).toBe(101);
    expect(await upgradeStatus(`${url}?token=${TOKEN}x`)).toBe(401);
    expect((await fetch(httpUrl('/health'))).status).toBe(200);
    expect((await fetch(httpUrl('/ready'))).status).toBe(200);
    // Admitted sockets pair as usual.
    const target = await wsConnect(`${url}?token=${TOKEN}`);
    target.send({ type: 'listen', otc: '246810' });
    expect(await target.next()).toEqual({ type: 'ack', message: 'session_open' });
  });

  it.skipIf(!transport.has('ownsConnection'))(
    'the 401 comes before any WebSocket exists, with WWW-Authenticate: Bearer (needs the refusal written and closed by the relay)',
    async () => {
      const { port, relay } = await startRelay({ accessTokens: [TOKEN] });
      const socket = connect(port, '127.0.0.1');
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      let answer = '';
      socket.on('data', (c: Buffer) => (answer += c.toString()));
      await new Promise((resolve) => socket.once('close', resolve));
      expect(answer).toMatch(/^HTTP\/1\.1 401 /);
      // The one refusal every transport writes (http/upgrade-gate.ts): JSON, not cached, closed.
      const [head = '', body] = answer.split('\r\n\r\n');
      const headers = head.toLowerCase().split('\r\n');
      for (const header of [
        'www-authenticate: bearer',
        'connection: close',
        'content-type: application/json',
        'cache-control: no-store',
      ]) {
        expect(headers).toContain(header);
      }
      expect(JSON.parse(body ?? '')).toEqual({ error: 'unauthorized' });
      expect(relay.connections).toBe(0);
    },
  );

  it('wrong tokens spend the address budget: over it, 429 even with the right token', async () => {
    const { url } = await startRelay({
      accessTokens: [TOKEN],
      failedAttemptsPerIp: 2,
    });
    const bearer = (token?: string): Record<string, string> =>
      token === undefined ? {} : { authorization: `Bearer ${token}` };
    // A missing token is not a guess: it spends nothing.
    for (let i = 0; i < 4; i++) expect(await upgradeStatus(url, bearer(), asClient(5))).toBe(401);
    expect(await upgradeStatus(url, bearer(TOKEN), asClient(5))).toBe(101);
    for (let i = 0; i < 2; i++) {
      expect(await upgradeStatus(url, bearer(`wrong-guess-number-${i}xx`), asClient(9))).toBe(401);
    }
    expect(await upgradeStatus(url, bearer('wrong-guess-number-3xx'), asClient(9))).toBe(429);
    expect(await upgradeStatus(url, bearer(TOKEN), asClient(9))).toBe(429);
    // Another address is untouched.
    expect(await upgradeStatus(url, bearer(TOKEN), asClient(10))).toBe(101);
    // And the budget is the one code guesses spend: a guesser's connect is rate limited too.
    const admitted = await wsConnect(url, bearer(TOKEN), asClient(5));
    admitted.send({ type: 'connect', otc: '111111' });
    expect(await admitted.next()).toEqual({ type: 'error', code: 'otc_not_found' });
  });

  it('wrong tokens sent all at once from one address still get only the budget', async () => {
    const { url } = await startRelay({ accessTokens: [TOKEN], failedAttemptsPerIp: 2 });
    const statuses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        upgradeStatus(url, { authorization: `Bearer parallel-wrong-guess-${i}` }),
      ),
    );
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(2);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(10);
  });

  // Behind Redis a budget check takes a round trip; right tokens must not be
  // counted as guesses in flight, or a burst from one NAT refuses itself.
  it.skipIf(!hasRedis)(
    'right tokens sent all at once from one address, with a Redis budget, all get in',
    async () => {
      const redis = await startRedis();
      try {
        const { url } = await startRelay({
          accessTokens: [TOKEN],
          redisUrl: redis.url,
          redisSecret: SECRET,
          failedAttemptsPerIp: 2,
        });
        const statuses = await Promise.all(
          Array.from({ length: 30 }, () =>
            upgradeStatus(url, { authorization: `Bearer ${TOKEN}` }),
          ),
        );
        expect(statuses.filter((s) => s === 101)).toHaveLength(30);
        // Guesses are still bounded: 2 wrong, then even the right token waits out the window.
        await upgradeStatus(url, { authorization: 'Bearer wrong-token-number-one' });
        await upgradeStatus(url, { authorization: 'Bearer wrong-token-number-two' });
        expect(await upgradeStatus(url, { authorization: `Bearer ${TOKEN}` })).toBe(429);
      } finally {
        await cleanup();
        await redis.stop();
      }
    },
  );

  it('refuses tokens a URL query would alter (+, &, #, /, =), naming the option', async () => {
    for (const bad of ['abcdefgh+ijklmnop1', 'abcdefgh&ijklmnop1', 'abcdefgh/ijklm=op1']) {
      // A settings check, the same on every runtime: no relay needed.
      expect(() => createRelayServer({ accessTokens: [bad] })).toThrow(/accessTokens/);
    }
    const { url } = await startRelay({ accessTokens: ['base64url_Token-0123456789~.'] });
    expect(await upgradeStatus(url + '?token=base64url_Token-0123456789~.')).toBe(101);
  });

  it('metrics count refusals by reason', async ({ skip }) => {
    skip(!transport.has('metrics'), 'needs /metrics');
    const { url, httpUrl } = await startRelay({
      accessTokens: [TOKEN],
      metrics: true,
      failedAttemptsPerIp: 1,
    });
    await upgradeStatus(url);
    await upgradeStatus(url, { authorization: 'Bearer wrong-token-wrong-token' });
    await upgradeStatus(url, { authorization: `Bearer ${TOKEN}` });
    const text = await (await fetch(httpUrl('/metrics'))).text();
    expect(text).toMatch(/pairing_relay_rejections_total\{reason="upgrade_unauthorized"\} 2/);
    expect(text).toMatch(/pairing_relay_rejections_total\{reason="upgrade_rate_limited"\} 1/);
  });

  it.skipIf(!transport.has('logs'))(
    'at trace level, no token and no URL query reaches the log (needs the relay log lines)',
    async () => {
      const { logger, text } = captureLog('trace');
      const { url } = await startRelay({ logger, accessTokens: [TOKEN], failedAttemptsPerIp: 1 });
      const { target, controller } = await pair(`${url}?token=${TOKEN}`, '135790');
      target.close();
      await controller.next();
      expect(await upgradeStatus(`${url}?token=guess-SECRET-guess-1`)).toBe(401);
      expect(await upgradeStatus(url, { authorization: 'Bearer guess-SECRET-guess-2' })).toBe(429);
      // A Bun-hosted relay's lines cross a pipe: wait for the last one.
      await eventually(() => /rate limited: upgrade refused/.test(text()));
      const log = text();
      for (const secret of [TOKEN, 'guess-SECRET', 'token=']) expect(log).not.toContain(secret);
    },
  );

  it.skipIf(!transport.has('inProcess'))(
    'a function decides, with the token and the client key; a throw refuses (needs the relay in this process: the option is a function)',
    async () => {
      const seen: Array<[string | undefined, string]> = [];
      const { url } = await startRelay({
        trustProxy: 1,
        accessTokens: async (token, request) => {
          seen.push([token, request.clientKey]);
          if (token === 'throw-throw-throw-throw') throw new Error(`boom ${token}`);
          return token === 'let-me-in-please-1234' || request.header('x-team') === 'ops';
        },
      });
      const ip = { 'x-forwarded-for': '198.51.100.4' };
      expect(
        await upgradeStatus(url, { ...ip, authorization: 'Bearer let-me-in-please-1234' }),
      ).toBe(101);
      expect(await upgradeStatus(url, { ...ip, 'x-team': 'ops' })).toBe(101);
      expect(await upgradeStatus(url, ip)).toBe(401);
      expect(await upgradeStatus(`${url}?token=throw-throw-throw-throw`, ip)).toBe(401);
      expect(seen[0]).toEqual(['let-me-in-please-1234', '198.51.100.4']);
      expect(seen[1]).toEqual([undefined, '198.51.100.4']);
    },
  );

  it.skipIf(!transport.has('inProcess'))(
    'a client that resets while its token is checked costs nothing: no crash, no socket kept, admitted or refused (needs the check to be a function of the test)',
    async () => {
      const pending: Array<(ok: boolean) => void> = [];
      const { relay, url, port } = await startRelay({
        accessTokens: (token) =>
          token === undefined ? false : new Promise<boolean>((resolve) => pending.push(resolve)),
      });
      for (const verdict of [true, false]) {
        const raw = connect(port, '127.0.0.1');
        raw.on('error', () => undefined);
        await new Promise((resolve) => raw.once('connect', resolve));
        raw.write(
          'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
            `Authorization: Bearer ${TOKEN}\r\n\r\n`,
        );
        await eventually(() => pending.length === 1);
        raw.resetAndDestroy();
        await new Promise((resolve) => raw.once('close', resolve));
        // The relay answers into a connection that is gone: its write fails.
        pending.shift()?.(verdict);
        // Its verdict runs in microtasks: one turn of the event loop sees it done.
        await new Promise(setImmediate);
        expect(relay.connections).toBe(0);
      }
      // The relay still serves: a checked client is admitted and pairs.
      const target = wsConnect(`${url}?token=${TOKEN}`);
      await eventually(() => pending.length === 1);
      pending.shift()?.(true);
      (await target).send({ type: 'listen', otc: '135790' });
      expect(await (await target).next()).toEqual({ type: 'ack', message: 'session_open' });
    },
  );

  it.skipIf(!transport.has('inProcess'))(
    'upgrades whose checks end in the same tick still get only the per-address cap (needs the check to be a function of the test)',
    async () => {
      const pending: Array<(ok: boolean) => void> = [];
      const { relay, url } = await startRelay({
        maxSocketsPerIp: 3,
        accessTokens: () => new Promise<boolean>((resolve) => pending.push(resolve)),
      });
      const statuses = Array.from({ length: 6 }, () =>
        upgradeStatus(url, { authorization: `Bearer ${TOKEN}` }),
      );
      await eventually(() => pending.length === 6);
      // Every verdict at once: the cap must count each admission, not a count taken before.
      for (const admit of pending) admit(true);
      const seen = await Promise.all(statuses);
      expect(seen.filter((s) => s === 101)).toHaveLength(3);
      expect(seen.filter((s) => s === 429)).toHaveLength(3);
      expect(relay.connections).toBe(3);
    },
  );

  it.skipIf(!transport.has('inProcess'))(
    'an address over its failure budget is refused before the check is asked (needs the check to be a function of the test)',
    async () => {
      let asked = 0;
      const { url } = await startRelay({
        failedAttemptsPerIp: 1,
        accessTokens: (token) => {
          asked += 1;
          return token === TOKEN;
        },
      });
      expect(await upgradeStatus(url, { authorization: 'Bearer wrong-token-wrong-token' })).toBe(
        401,
      );
      expect(asked).toBe(1);
      expect(await upgradeStatus(url, { authorization: `Bearer ${TOKEN}` })).toBe(429);
      expect(await upgradeStatus(url)).toBe(429);
      expect(asked).toBe(1);
    },
  );

  it.skipIf(!transport.has('inProcess'))(
    'stop() does not wait for a check that never answers; the waiting client is dropped (needs the check to be a function of the test)',
    async () => {
      let asked = 0;
      const { relay, url } = await startRelay({
        accessTokens: () => {
          asked += 1;
          return new Promise<boolean>(() => undefined);
        },
      });
      const status = upgradeStatus(url, { authorization: `Bearer ${TOKEN}` }).catch(
        (err: Error) => err.message,
      );
      await eventually(() => asked === 1);
      await relay.stop();
      // The socket is gone: the client sees the connection end, not a 101.
      expect(await status).not.toBe(101);
    },
  );
});

describe('an operator check that never answers', () => {
  it(`is a refusal after ACCESS_CHECK_MS (${ACCESS_CHECK_MS} ms), logged without the token`, async () => {
    vi.useFakeTimers();
    try {
      const { logger, text } = captureLog('warn');
      const gate = createAccessGate(
        { kind: 'check', check: () => new Promise<boolean>(() => undefined) },
        logger,
      );
      let verdict: boolean | undefined;
      void gate
        ?.allows('never-answered-token-1', { clientKey: '10.0.0.1', header: () => undefined })
        .then((v) => (verdict = v));
      await vi.advanceTimersByTimeAsync(ACCESS_CHECK_MS - 1);
      expect(verdict).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(verdict).toBe(false);
      expect(text()).toMatch(/access check did not answer in time/);
      expect(text()).not.toContain('never-answered-token-1');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an answer in time clears its timer', async () => {
    vi.useFakeTimers();
    try {
      const gate = createAccessGate(
        { kind: 'check', check: async () => true },
        captureLog('warn').logger,
      );
      expect(
        await gate?.allows(undefined, { clientKey: '10.0.0.1', header: () => undefined }),
      ).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('x-relay-client echo on /health', () => {
  it.skipIf(!transport.has('forwardedFor'))(
    'only when the request asks for it, on every transport (needs X-Forwarded-For)',
    async () => {
      const { httpUrl } = await startRelay({ trustProxy: '1' });
      const plain = await fetch(httpUrl('/health'));
      expect(plain.status).toBe(200);
      expect(plain.headers.get('x-relay-client')).toBeNull();
      const asked = await fetch(httpUrl('/health'), {
        headers: { 'x-relay-client': '?', 'x-forwarded-for': '198.51.100.9' },
      });
      expect(asked.headers.get('x-relay-client')).toBe(
        'key=198.51.100.9; from=forwarded; forwarded=1',
      );
    },
  );
});
