import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RelayOptions } from '../src/index.js';
import { SECRET, exchange, expectEveryKeyExpires, pairAcross } from './helpers/cluster.js';
import { startRelayProcess, type RelayProcess } from './helpers/instances.js';
import { killChildren } from './helpers/process.js';
import { hasRedis, startRedis, type TestRedis } from './helpers/redis.js';
import { transport } from './helpers/transports.js';
import {
  cleanup,
  delay,
  eventually,
  listenOn,
  startRelay,
  wsConnect,
  type StartedRelay,
  type TestClient,
} from './helpers/relay.js';
import { startFaultProxy } from './helpers/tcp-proxy.js';

// Faults of the scale-out mode, as clients see them: real redis-server, real
// relay processes killed with signals, and a TCP proxy between the relays and
// Redis that adds latency, swallows traffic or resets connections. Timeouts
// are short and configured; no step waits on a fixed sleep for an outcome.
// Needs scale-out (Redis over TCP from the relay's process) and a CLI (relay processes).
const describeRedis =
  hasRedis && transport.has('scaleOut') && transport.has('cli') ? describe : describe.skip;

const TIMEOUT_MS = 300;
const SILENT_TIMEOUT_MS = 2_000;
const options = (redisUrl: string, extra: RelayOptions = {}): RelayOptions => ({
  redisUrl,
  redisSecret: SECRET,
  redisTimeoutMs: TIMEOUT_MS,
  ...extra,
});
const processEnv = (redisUrl: string, extra: Record<string, string> = {}) => ({
  REDIS_URL: redisUrl,
  RELAY_REDIS_SECRET: SECRET,
  RELAY_REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
  ...extra,
});

type Ready = { status: number; body: Record<string, unknown> };
async function readyOf(relay: StartedRelay | RelayProcess): Promise<Ready> {
  const res = await fetch(relay.httpUrl('/ready'));
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
async function allReady(relays: Array<StartedRelay | RelayProcess>): Promise<boolean> {
  const states = await Promise.all(relays.map(readyOf));
  return states.every((r) => r.status === 200 && r.body['status'] === 'ready');
}
async function sessionsOf(relay: StartedRelay | RelayProcess): Promise<number> {
  if ('relay' in relay) return relay.relay.sessions;
  return (await relay.health()).body['sessions'] as number;
}
async function expectDrained(relays: Array<StartedRelay | RelayProcess>): Promise<void> {
  await eventually(async () => (await Promise.all(relays.map(sessionsOf))).every((n) => n === 0));
}
/** The next message and how long it took to come. */
async function timed(client: TestClient, timeoutMs: number) {
  const started = Date.now();
  const message = await client.next(timeoutMs);
  return { message, ms: Date.now() - started };
}

describeRedis('scale-out faults', () => {
  let redis: TestRedis;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
    admin.on('error', () => undefined); // Redis is stopped on purpose here
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });
  afterEach(async () => {
    await cleanup();
    killChildren();
    await admin.flushall();
  });

  it('a cross-instance controller quiet for 3 idle periods keeps its session', async () => {
    const opts = options(redis.url, { idleTimeoutMs: 500, pairedTtlMs: 20_000 });
    const [a, b] = await Promise.all([startRelay(opts), startRelay(opts)]);
    const { target, controller } = await pairAcross(a.url, b.url, '150150');
    // A person comparing the verification code: nothing sent for a while.
    await delay(1_500);
    await exchange(target, controller, 'after a pause');
    await delay(1_500);
    controller.send({ type: 'done' });
    expect(await target.next()).toEqual({ type: 'done' });
    await expectDrained([a, b]);
    await expectEveryKeyExpires(admin);
  });

  it('a controller whose socket opened just before the idle limit is not cut after pairing', async () => {
    const opts = options(redis.url, { idleTimeoutMs: 2_000, pairedTtlMs: 20_000 });
    const [a, b] = await Promise.all([startRelay(opts), startRelay(opts)]);
    const controller = await wsConnect(b.url);
    const opened = Date.now();
    const target = await listenOn(a.url, '880880');
    // connect 1.5 s into the controller's 2 s idle window, counted from its open, so a
    // slow listen on a loaded machine does not push the connect past the deadline.
    await delay(Math.max(0, 1_500 - (Date.now() - opened)));
    controller.send({ type: 'connect', otc: '880880' });
    expect(await controller.next()).toEqual({ type: 'peer_found' });
    expect(await target.next()).toEqual({ type: 'peer_found' });
    // Past the socket's own idle deadline, and one more idle period quiet.
    await delay(2_200);
    await exchange(target, controller, 'still here');
    target.send({ type: 'done' });
    expect(await controller.next()).toEqual({ type: 'done' });
    await expectDrained([a, b]);
  });

  it('instances that boot before Redis join once it comes, and again after a restart', async () => {
    const late = await startRedis({ notYet: true });
    try {
      const env = processEnv(late.url);
      const [a, b] = await Promise.all([startRelayProcess(env), startRelayProcess(env)]);
      const before = await readyOf(a);
      expect(before.body).toMatchObject({ status: 'degraded', redis: 'unreachable' });
      expect(before.status).toBe(200); // the default: same-instance pairing goes on

      const up = Date.now();
      await late.restart();
      await eventually(() => allReady([a, b]), 10_000);
      expect(Date.now() - up).toBeLessThan(5_000);
      const first = await pairAcross(a.url, b.url, '313131');
      await exchange(first.target, first.controller, 'joined');
      first.controller.send({ type: 'done' });
      expect(await first.target.next()).toEqual({ type: 'done' });

      await late.restart();
      await eventually(() => allReady([a, b]), 10_000);
      const second = await pairAcross(b.url, a.url, '323232');
      await exchange(second.target, second.controller, 'rejoined');
      second.target.send({ type: 'done' });
      expect(await second.controller.next()).toEqual({ type: 'done' });
      await expectDrained([a, b]);
    } finally {
      await late.stop();
    }
  });

  for (const killed of ['owner', 'controller'] as const) {
    it(`kill -9 of the ${killed}'s instance: the quiet peer on the other hears peer_disconnected within 5 s`, async () => {
      const env = processEnv(redis.url, { RELAY_PAIRED_TTL_MS: '30000' });
      const [a, b] = await Promise.all([startRelayProcess(env), startRelayProcess(env)]);
      await Promise.all([a.joined(), b.joined()]);
      const { target, controller } = await pairAcross(a.url, b.url, '909090');
      const [dead, survivor, quiet] = killed === 'owner' ? [a, b, controller] : [b, a, target];
      const gone = dead.kill('SIGKILL');
      const { message, ms } = await timed(quiet, 6_000);
      await gone;
      expect(message).toEqual({ type: 'error', code: 'peer_disconnected' });
      expect(ms).toBeLessThan(5_000);
      await expectDrained([survivor]);
      // A dead owner's claim does not block its code.
      if (killed === 'owner') await listenOn(b.url, '909090');
    });
  }

  it('SIGTERM of the owner with no drain window: the controller is told at once', async () => {
    const env = processEnv(redis.url, { RELAY_DRAIN_MS: '0' });
    const [a, b] = await Promise.all([startRelayProcess(env), startRelayProcess(env)]);
    await Promise.all([a.joined(), b.joined()]);
    const { target, controller } = await pairAcross(a.url, b.url, '929292');
    const stopped = a.kill('SIGTERM');
    expect(await target.next()).toEqual({ type: 'error', code: 'going_away' });
    const { message, ms } = await timed(controller, 3_000);
    expect(message).toEqual({ type: 'error', code: 'peer_disconnected' });
    expect(ms).toBeLessThan(1_000);
    expect((await a.exited).code).toBe(0);
    await stopped;
    await expectDrained([b]);
    await expectEveryKeyExpires(admin);
  });

  it('a Redis restart keeps waiting targets reachable and their codes taken', async () => {
    const [a, b, c] = await Promise.all([
      startRelay(options(redis.url)),
      startRelay(options(redis.url)),
      startRelay(options(redis.url)),
    ]);
    const kept = await listenOn(a.url, '414141');
    const reachable = await listenOn(a.url, '424242');
    await redis.restart(); // no persistence: every claim is gone
    await eventually(() => allReady([a, b, c]), 10_000);

    const rival = await wsConnect(b.url);
    rival.send({ type: 'listen', otc: '414141' });
    expect(await rival.next()).toEqual({ type: 'error', code: 'otc_in_use' });
    const controller = await wsConnect(c.url);
    controller.send({ type: 'connect', otc: '424242' });
    expect(await controller.next()).toEqual({ type: 'peer_found' });
    expect(await reachable.next()).toEqual({ type: 'peer_found' });
    await exchange(reachable, controller, 'after the restart');
    kept.close();
    reachable.close();
    await expectDrained([a, b, c]);
    await expectEveryKeyExpires(admin);
  });

  it('two listens won during an outage: when Redis is back exactly one keeps the code', async () => {
    const [a, b, c] = await Promise.all([
      startRelay(options(redis.url)),
      startRelay(options(redis.url)),
      startRelay(options(redis.url)),
    ]);
    await redis.stop();
    await eventually(async () => (await readyOf(a)).body['redis'] === 'unreachable');
    // Both are told ack: neither instance can ask the other.
    const x = await listenOn(a.url, '434343');
    const y = await listenOn(b.url, '434343');
    await redis.restart();
    // Whoever lost the code is closed, after being told why; the other is untouched.
    const lost = await Promise.race([
      x.closed.then((close) => ({ client: x, close })),
      y.closed.then((close) => ({ client: y, close })),
    ]);
    expect(lost.close.code).toBe(1000);
    expect(await lost.client.next()).toEqual({ type: 'error', code: 'otc_in_use' });
    const winner = lost.client === x ? y : x;
    await eventually(() => allReady([a, b, c]), 10_000);
    const controller = await wsConnect(c.url);
    controller.send({ type: 'connect', otc: '434343' });
    expect(await controller.next()).toEqual({ type: 'peer_found' });
    expect(await winner.next()).toEqual({ type: 'peer_found' });
    winner.close();
    await expectDrained([a, b, c]);
  });

  it('a session that ends while Redis is unreachable gives its code back once Redis returns', async () => {
    const proxy = await startFaultProxy(redis.port);
    try {
      const [a, b] = await Promise.all([
        startRelay(options(proxy.url)),
        startRelay(options(proxy.url)),
      ]);
      const target = await listenOn(a.url, '454545');
      proxy.setMode('reset');
      await eventually(async () => (await readyOf(a)).body['redis'] === 'unreachable');
      target.close();
      await eventually(() => a.relay.sessions === 0);
      proxy.setMode('pass');
      await eventually(() => allReady([a, b]), 10_000);
      const again = await listenOn(b.url, '454545');
      again.close();
      await expectDrained([a, b]);
    } finally {
      await proxy.close();
    }
  });

  for (const fault of ['latency', 'blackhole'] as const) {
    it(`/ready reports Redis ${fault === 'latency' ? 'answering in 2 s' : 'silent (blackhole)'} within 10 s, and recovers`, async () => {
      const proxy = await startFaultProxy(redis.port);
      try {
        const [lenient, strict] = await Promise.all([
          startRelay(options(proxy.url)),
          startRelay(options(proxy.url, { readyDuringRedisOutage: false })),
        ]);
        await eventually(() => allReady([lenient, strict]), 10_000);
        const started = Date.now();
        if (fault === 'latency') proxy.setMode('latency', 2_000);
        else proxy.setMode('blackhole');
        await eventually(async () => (await readyOf(lenient)).body['redis'] !== 'ok', 10_000);
        expect(Date.now() - started).toBeLessThan(10_000);
        const seen = await readyOf(lenient);
        expect(seen.status).toBe(200);
        expect(seen.body['status']).toBe('degraded');
        expect(['slow', 'unreachable']).toContain(seen.body['redis']);
        await eventually(async () => (await readyOf(strict)).status === 503, 10_000);

        proxy.setMode('pass');
        await eventually(() => allReady([lenient, strict]), 10_000);
        const { target, controller } = await pairAcross(lenient.url, strict.url, '464646');
        await exchange(target, controller, 'recovered');
        controller.close();
        expect(await target.next()).toEqual({ type: 'error', code: 'peer_disconnected' });
        await expectDrained([lenient, strict]);
        await expectEveryKeyExpires(admin);
      } finally {
        await proxy.close();
      }
    });
  }

  it('Redis silent (blackhole): once /ready says so, same-instance pairings and cross-instance refusals come at once, not a timeout per call', async () => {
    const proxy = await startFaultProxy(redis.port);
    try {
      // A long timeout, so a call that waits on the silent connection cannot pass for quick.
      const slow = options(proxy.url, { redisTimeoutMs: SILENT_TIMEOUT_MS });
      const [a, b] = await Promise.all([startRelay(slow), startRelay(slow)]);
      await eventually(() => allReady([a, b]), 10_000);
      proxy.setMode('blackhole');
      await eventually(async () => (await readyOf(a)).body['redis'] !== 'ok', 10_000);
      await eventually(async () => (await readyOf(b)).body['redis'] !== 'ok', 10_000);
      const target = await wsConnect(a.url);
      target.send({ type: 'listen', otc: '575757' });
      const ack = await timed(target, 5_000);
      expect(ack.message).toEqual({ type: 'ack', message: 'session_open' });
      const controller = await wsConnect(a.url);
      controller.send({ type: 'connect', otc: '575757' });
      const found = await timed(controller, 5_000);
      expect(found.message).toEqual({ type: 'peer_found' });
      const stranger = await wsConnect(b.url);
      stranger.send({ type: 'connect', otc: '575757' });
      const refused = await timed(stranger, 5_000);
      expect(refused.message).toEqual({ type: 'error', code: 'relay_capacity' });
      // Each well under one Redis timeout: nothing waits on the silent connection.
      expect(Math.max(ack.ms, found.ms, refused.ms)).toBeLessThan(SILENT_TIMEOUT_MS / 2);
      proxy.setMode('pass');
      await eventually(() => allReady([a, b]), 10_000);
      const pair = await pairAcross(a.url, b.url, '585858');
      await exchange(pair.target, pair.controller, 'back');
    } finally {
      await proxy.close();
    }
  });

  it('200 ms of Redis latency each way: cross-instance pairings still work end to end', async () => {
    const proxy = await startFaultProxy(redis.port);
    try {
      // The default timeout (1 s) absorbs 400 ms round trips.
      const opts = options(proxy.url, { redisTimeoutMs: 1_000 });
      const [a, b] = await Promise.all([startRelay(opts), startRelay(opts)]);
      await eventually(() => allReady([a, b]), 10_000);
      proxy.setMode('latency', 200);
      const { target, controller } = await pairAcross(a.url, b.url, '484848');
      await exchange(target, controller, 'slow but fine');
      controller.send({ type: 'done' });
      expect(await target.next()).toEqual({ type: 'done' });
      expect((await readyOf(a)).body['status']).toBe('ready');
      proxy.setMode('pass');
      await expectDrained([a, b]);
    } finally {
      await proxy.close();
    }
  });

  it('connections to Redis reset every 300 ms: every session ends with an answer, none leaks', async () => {
    const proxy = await startFaultProxy(redis.port);
    try {
      const opts = options(proxy.url, { pairedTtlMs: 4_000, sessionTtlMs: 4_000 });
      const [a, b] = await Promise.all([startRelay(opts), startRelay(opts)]);
      await eventually(() => allReady([a, b]), 10_000);
      const pairs = await Promise.all(
        ['494949', '505050', '515151'].map((code) => pairAcross(a.url, b.url, code)),
      );
      const resets = setInterval(() => {
        proxy.setMode('reset');
        setTimeout(() => proxy.setMode('pass'), 50);
      }, 300);
      try {
        // Each side hears something about its session before the paired TTL ends it.
        for (const { target, controller } of pairs) {
          for (const client of [target, controller]) {
            const seen = await client.next(6_000);
            expect(['peer_disconnected', 'otc_expired']).toContain(seen['code']);
          }
        }
      } finally {
        clearInterval(resets);
        proxy.setMode('pass');
      }
      await expectDrained([a, b]);
      await eventually(() => allReady([a, b]), 10_000);
      const again = await pairAcross(a.url, b.url, '525252');
      await exchange(again.target, again.controller, 'after the resets');
    } finally {
      await proxy.close();
    }
  });

  it('stop() while Redis is silent still ends, within the Redis timeout or so', async () => {
    const proxy = await startFaultProxy(redis.port);
    try {
      const relay = await startRelay(options(proxy.url));
      await eventually(() => allReady([relay]), 10_000);
      const target = await listenOn(relay.url, '474747');
      proxy.setMode('blackhole');
      const started = Date.now();
      await relay.relay.stop();
      expect(Date.now() - started).toBeLessThan(2_000 + 4 * TIMEOUT_MS);
      expect((await target.closed).code).toBe(1001);
    } finally {
      await proxy.close();
    }
  });

  it('a second remote bootstrap_init replaces the first: a stale answer goes nowhere', async () => {
    const [a, b] = await Promise.all([
      startRelay(options(redis.url)),
      startRelay(options(redis.url)),
    ]);
    const watcher = await wsConnect(a.url);
    for (const jti of ['bt_one', 'bt_two']) {
      watcher.send({ type: 'bootstrap_watch', jti });
      expect(await watcher.next()).toEqual({ type: 'bootstrap_watching', jti });
    }
    const init = await wsConnect(b.url);
    init.send({ type: 'bootstrap_init', jti: 'bt_one', token: 't1', targetPubKey: 'k1' });
    expect(await watcher.next()).toMatchObject({ type: 'bootstrap_init', jti: 'bt_one' });
    init.send({ type: 'bootstrap_init', jti: 'bt_two', token: 't2', targetPubKey: 'k2' });
    expect(await watcher.next()).toMatchObject({ type: 'bootstrap_init', jti: 'bt_two' });
    watcher.send({ type: 'bootstrap_ack', jti: 'bt_one', publicKey: 'old' });
    watcher.send({ type: 'bootstrap_ack', jti: 'bt_two', publicKey: 'new' });
    expect(await init.next()).toEqual({
      type: 'bootstrap_ack',
      jti: 'bt_two',
      controllerPubKey: 'new',
    });
    await eventually(() => a.relay.connections === 1 && b.relay.connections === 1);
    await expectEveryKeyExpires(admin);
  });
});
