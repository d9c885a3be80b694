import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createRelayServer } from '../src/index.js';
import { RUNTIME } from '../src/version.js';
import { transport } from './helpers/transports.js';
import {
  cleanup,
  eventually,
  listenOn,
  pair,
  startRelay,
  upgradeStatus,
  wsConnect,
  settles,
} from './helpers/relay.js';

afterEach(cleanup);

function timerCount(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('HTTP', () => {
  it('/health, /ready, 404, 405, 426, upgrade refused off /ws', async () => {
    const { url, httpUrl } = await startRelay();
    const health = await fetch(httpUrl('/health'));
    expect(health.status).toBe(200);
    const body = (await health.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', sessions: 0, connections: 0 });
    // Which runtime serves, beside the fields amesh clients read.
    expect(body['runtime']).toMatch(/^((node|bun) \d+\.\d+\.\d+|workerd)/);
    // Served from this very process: the runtime running the test.
    if (transport.has('inProcess')) expect(body['runtime']).toBe(RUNTIME);
    const ready = await fetch(httpUrl('/ready'));
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
    expect((await fetch(httpUrl('/nope'))).status).toBe(404);
    expect((await fetch(httpUrl('/health/x'))).status).toBe(404);
    expect((await fetch(httpUrl('/health'), { method: 'POST' })).status).toBe(405);
    expect((await fetch(httpUrl('/ws'), { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(httpUrl('/ws'))).status).toBe(426);
    expect((await fetch(httpUrl('/health?x=1'))).status).toBe(200);
    expect((await fetch(httpUrl('/health'), { method: 'HEAD' })).status).toBe(200);
    expect(await upgradeStatus(url.replace('/ws', '/other'))).toBe(404);
    expect(await upgradeStatus(url.replace('/ws', '/'))).toBe(404);
    // /health and /ready are plain HTTP: an upgrade there is refused too (Bun routes /health natively).
    expect(await upgradeStatus(url.replace('/ws', '/health'))).toBe(404);
    expect(await upgradeStatus(url.replace('/ws', '/ready'))).toBe(404);
    expect(await upgradeStatus(url + '?client=amesh')).toBe(101);
  });

  it('/health counts sessions and connections', async () => {
    const { url, httpUrl } = await startRelay();
    await pair(url);
    expect(await (await fetch(httpUrl('/health'))).json()).toMatchObject({
      sessions: 1,
      connections: 2,
    });
  });
});

describe('scale and cleanup', () => {
  const PAIRS = transport.concurrentPairings;
  it(`${PAIRS} concurrent pairings, no cross-talk, back to 0 sessions and no timers after close`, async () => {
    const before = timerCount();
    const { url, relay, httpUrl } = await startRelay({
      maxSocketsPerIp: 1000,
      // Many listens at once from one address: attempts still in flight count
      // against the failure budget (limits/attempt-budget.ts), and at the edge
      // each is in flight for a round trip to the address's budget object.
      failedAttemptsPerIp: 1000,
    });
    const codes = Array.from({ length: PAIRS }, (_, i) => String(100000 + i * 7));
    const pairs = await Promise.all(codes.map((code) => pair(url, code)));
    await settles(() => relay.sessions, PAIRS);
    await Promise.all(
      pairs.map(async ({ target, controller }, i) => {
        target.send({ type: 'data', payload: `t->c ${codes[i]}` });
        controller.send({ type: 'data', payload: `c->t ${codes[i]}` });
        expect(await controller.next()).toEqual({ type: 'data', payload: `t->c ${codes[i]}` });
        expect(await target.next()).toEqual({ type: 'data', payload: `c->t ${codes[i]}` });
        controller.send({ type: 'done' });
        expect(await target.next()).toEqual({ type: 'done' });
        target.close();
        controller.close();
        await Promise.all([target.closed, controller.closed]);
      }),
    );
    await eventually(() => relay.connections === 0);
    expect(await (await fetch(httpUrl('/health'))).json()).toMatchObject({
      sessions: 0,
      connections: 0,
    });
    await relay.stop();
    if (transport.has('inProcess')) await eventually(() => timerCount() <= before);
  });

  it.skipIf(!transport.has('shutdown'))(
    'stop() with live sessions, watches and idle sockets clears every timer (needs stop() to tell sockets)',
    async () => {
      const before = timerCount();
      const { url, relay } = await startRelay({ heartbeatMs: 1000 });
      const { target, controller } = await pair(url);
      const waiting = await listenOn(url, '909090');
      const watcher = await wsConnect(url);
      watcher.send({ type: 'bootstrap_watch', jti: 'j' });
      await watcher.next();
      const guesser = await wsConnect(url);
      guesser.send({ type: 'connect', otc: '111111' });
      await guesser.next();
      await wsConnect(url);
      // Under Bun the relay is another process: there stop() itself checks that
      // the process, holding nothing more, ends by itself.
      if (transport.has('inProcess')) expect(timerCount()).toBeGreaterThan(before);
      await relay.stop();
      for (const c of [target, controller, waiting, watcher]) {
        expect(await c.next()).toEqual({ type: 'error', code: 'going_away' });
        expect((await c.closed).code).toBe(1001);
      }
      await settles(() => relay.sessions, 0);
      await settles(() => relay.connections, 0);
      if (transport.has('inProcess')) await eventually(() => timerCount() <= before);
    },
  );
});

describe('programmatic API', () => {
  it('await createRelayServer({...}) then await relay.start() (the amesh docs form)', async ({
    skip,
  }) => {
    skip(!transport.has('inProcess'), 'needs the relay in this process: the test creates it');
    const relay = await createRelayServer({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
    const address = await relay.start();
    expect(address.port).toBeGreaterThan(0);
    expect(address.host).toBe('127.0.0.1');
    expect(address.url).toBe(`ws://127.0.0.1:${address.port}/ws`);
    const { target, controller } = await pair(address.url);
    target.send({ type: 'data', payload: 'x' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'x' });
    await relay.stop();
    await relay.stop(); // idempotent
  });

  it('bad options throw at construction, naming the option', () => {
    expect(() => createRelayServer({ port: -1 })).toThrow(/port/);
    expect(() => createRelayServer({ sessionTtlMs: 0 })).toThrow(/sessionTtlMs/);
    expect(() => createRelayServer({ maxFrameBytes: 1.5 })).toThrow(/maxFrameBytes/);
    expect(() => createRelayServer({ trustProxy: 'maybe' })).toThrow(/trustProxy/);
    expect(() => createRelayServer({ logLevel: 'loud' as never })).toThrow(/logLevel/);
    expect(() => createRelayServer({ allowLongCodes: 'yes' as never })).toThrow(/allowLongCodes/);
    expect(() => createRelayServer({ redisUrl: 'redis://r:6379' })).toThrow(/redisSecret/);
    for (const [options, key] of [
      [{ sessionTtlMs: 0 }, 'sessionTtlMs'],
      [{ trustProxy: 'maybe' }, 'trustProxy'],
      [{ redisUrl: 'redis://r:6379' }, 'redisSecret'],
    ] as const) {
      let err: unknown;
      try {
        createRelayServer(options);
      } catch (e) {
        err = e;
      }
      expect(err instanceof TypeError || err instanceof RangeError).toBe(true);
      expect(err).toHaveProperty('option', key);
    }
  });

  it("'' turns redisUrl, redisSecret and trustProxy off", async () => {
    const relay = createRelayServer({ redisUrl: '', redisSecret: '', trustProxy: '' });
    await relay.stop();
  });

  it('stop() while start() is still running undoes the start: nothing is left listening', async () => {
    const relay = createRelayServer({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
    const started = relay.start();
    await relay.stop();
    const { port } = await started;
    // The start finished after stop() was called; stop() waited for it and closed it.
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    await expect(relay.start()).rejects.toThrow(/once/);
  });

  it('start() on a taken port rejects', async () => {
    const { port } = await startRelay();
    const second = createRelayServer({ port, host: '127.0.0.1', logLevel: 'silent' });
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await second.stop();
  });

  it('attaches to an existing http.Server and leaves its other routes alone', async ({ skip }) => {
    skip(!transport.has('attachServer'), 'needs a node:http server to attach to');
    const server = createServer((req, res) => {
      if (req.url === '/app') return res.end('app');
      relay.handleRequest(req, res);
    });
    const relay = createRelayServer({ server, logLevel: 'silent' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = await relay.start();
    const base = `http://127.0.0.1:${address.port}`;
    expect(await (await fetch(`${base}/app`)).text()).toBe('app');
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const { target, controller } = await pair(address.url);
    target.send({ type: 'data', payload: 'attached' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'attached' });
    await relay.stop();
    // The host server is still the caller's: stop() does not close it.
    expect(server.listening).toBe(true);
    await new Promise((resolve) => server.close(resolve));
  });

  it('start() on an attached server that fails to listen rejects instead of waiting forever', async ({
    skip,
  }) => {
    skip(!transport.has('attachServer'), 'needs a node:http server to attach to');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    const server = createServer();
    const relay = createRelayServer({ server, logLevel: 'silent' });
    const started = relay.start();
    server.listen(port, '127.0.0.1');
    await expect(started).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await relay.stop();
    await new Promise((resolve) => taken.close(resolve));
  });
});

describe('graceful drain', () => {
  it.skipIf(!transport.has('shutdown'))(
    'drain(): /ready 503, upgrades refused, new listens refused, live sessions finish (needs a drain)',
    async () => {
      const { url, relay, httpUrl } = await startRelay({ drainMs: 5000 });
      const { target, controller } = await pair(url);
      const idle = await wsConnect(url);
      const drained = relay.drain();
      await settles(() => relay.draining, true);
      const ready = await fetch(httpUrl('/ready'));
      expect([ready.status, await ready.json()]).toEqual([503, { status: 'draining' }]);
      expect((await fetch(httpUrl('/health'))).status).toBe(200);
      expect(await upgradeStatus(url)).toBe(503);
      idle.send({ type: 'listen', otc: '313131' });
      expect(await idle.next()).toEqual({ type: 'error', code: 'going_away' });
      idle.send({ type: 'bootstrap_watch', jti: 'late' });
      expect(await idle.next()).toEqual({ type: 'error', code: 'going_away' });
      // The live session still works and ends on its own.
      target.send({ type: 'data', payload: 'finishing' });
      expect(await controller.next()).toEqual({ type: 'data', payload: 'finishing' });
      const started = Date.now();
      target.send({ type: 'done' });
      await controller.next();
      await drained;
      expect(Date.now() - started).toBeLessThan(4000);
      expect(await idle.next()).toEqual({ type: 'error', code: 'going_away' });
      expect((await idle.closed).code).toBe(1001);
    },
  );

  it.skipIf(!transport.has('shutdown'))(
    'drain(): sessions still open when the window ends get going_away and 1001 (needs a drain)',
    async () => {
      const { url, relay } = await startRelay({ drainMs: 150 });
      const { target, controller } = await pair(url);
      await relay.drain();
      for (const c of [target, controller]) {
        expect(await c.next()).toEqual({ type: 'error', code: 'going_away' });
        expect((await c.closed).code).toBe(1001);
      }
    },
  );

  it.skipIf(!transport.has('shutdown'))(
    'a connect to a session that exists still pairs during the drain (needs a drain)',
    async () => {
      const { url, relay } = await startRelay({ drainMs: 5000 });
      const target = await listenOn(url, '212121');
      const controller = await wsConnect(url);
      const drained = relay.drain();
      controller.send({ type: 'connect', otc: '212121' });
      expect(await controller.next()).toEqual({ type: 'peer_found' });
      expect(await target.next()).toEqual({ type: 'peer_found' });
      controller.send({ type: 'done' });
      expect(await target.next()).toEqual({ type: 'done' });
      await drained;
    },
  );
});
