import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RelayOptions } from '../src/index.js';
import {
  cleanup,
  eventually,
  expectNothingPending,
  listenOn as listenAt,
  startRelay,
  wsConnect,
  type StartedRelay,
  type TestClient,
  settles,
} from './helpers/relay.js';
import { hasRedis, startRedis, type TestRedis } from './helpers/redis.js';
import { transport } from './helpers/transports.js';
import { pairAcross as pairBetween, SECRET } from './helpers/cluster.js';

if (!hasRedis) {
  const message = 'redis-server is not installed: the scale-out tests are SKIPPED';
  // A machine without redis-server still passes; CI must run them.
  if (process.env['CI'] === 'true') throw new Error(`${message}, and CI=true requires them`);
  console.warn(`\n*** ${message} (apt-get install redis-server) ***\n`);
}

// Scale-out needs Redis over TCP from the relay's own process: transport.has('scaleOut').
const describeRedis = hasRedis && transport.has('scaleOut') ? describe : describe.skip;

const listenOn = (relay: StartedRelay, code: string, headers = {}): Promise<TestClient> =>
  listenAt(relay.url, code, headers);
const pairAcross = (a: StartedRelay, b: StartedRelay, code: string) =>
  pairBetween(a.url, b.url, code);

describeRedis('scale-out on Redis', () => {
  let redis: TestRedis;
  let admin: Redis;
  const instance = (redisUrl: string, extra: RelayOptions = {}): Promise<StartedRelay> =>
    startRelay({ redisUrl, redisSecret: SECRET, redisTimeoutMs: 500, ...extra });

  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });
  beforeEach(async () => {
    await admin.flushall();
  });
  afterEach(cleanup);

  it('target on A, controller on B: peer_found, data both ways, done', async () => {
    const [a, b] = await Promise.all([instance(redis.url), instance(redis.url)]);
    const { target, controller } = await pairAcross(a, b, '246810');
    target.send({ type: 'data', payload: 'from-target' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'from-target' });
    controller.send({ type: 'data', payload: 'from "controller" \\ é' });
    expect(await target.next()).toEqual({ type: 'data', payload: 'from "controller" \\ é' });
    controller.send({ type: 'done' });
    expect(await target.next()).toEqual({ type: 'done' });
    await expectNothingPending(controller);
    await settles(() => a.relay.sessions, 0);
    // The session is over on both sides: a late frame goes nowhere.
    controller.send({ type: 'data', payload: 'late' });
    await expectNothingPending(target);
  });

  it('done from the target reaches the controller on another instance', async () => {
    const [a, b] = await Promise.all([instance(redis.url), instance(redis.url)]);
    const { target, controller } = await pairAcross(a, b, '135791');
    target.send({ type: 'done' });
    expect(await controller.next()).toEqual({ type: 'done' });
  });

  it('disconnects propagate both ways', async () => {
    const [a, b] = await Promise.all([instance(redis.url), instance(redis.url)]);
    const one = await pairAcross(a, b, '111222');
    one.controller.close();
    expect(await one.target.next()).toEqual({ type: 'error', code: 'peer_disconnected' });
    const two = await pairAcross(a, b, '333444');
    two.target.close();
    expect(await two.controller.next()).toEqual({ type: 'error', code: 'peer_disconnected' });
    await eventually(() => a.relay.sessions === 0);
  });

  it('expiry reaches both peers: otc_expired, then a normal close', async () => {
    const [a, b] = await Promise.all([
      instance(redis.url, { pairedTtlMs: 300 }),
      instance(redis.url, { pairedTtlMs: 300 }),
    ]);
    const { target, controller } = await pairAcross(a, b, '555666');
    expect(await target.next()).toEqual({ type: 'error', code: 'otc_expired' });
    expect(await controller.next()).toEqual({ type: 'error', code: 'otc_expired' });
    expect((await controller.closed).code).toBe(1000);
    expect((await target.closed).code).toBe(1000);
  });

  it('otc_in_use and peer_already_connected across three instances', async () => {
    const [a, b, c] = await Promise.all([
      instance(redis.url),
      instance(redis.url),
      instance(redis.url),
    ]);
    await pairAcross(a, b, '777888');
    const rival = await wsConnect(c.url);
    rival.send({ type: 'listen', otc: '777888' });
    expect(await rival.next()).toEqual({ type: 'error', code: 'otc_in_use' });
    const late = await wsConnect(c.url);
    late.send({ type: 'connect', otc: '777888' });
    expect(await late.next()).toEqual({ type: 'error', code: 'peer_already_connected' });
    const lost = await wsConnect(c.url);
    lost.send({ type: 'connect', otc: '999000' });
    expect(await lost.next()).toEqual({ type: 'error', code: 'otc_not_found' });
  });

  it('two listens on two instances: exactly one wins', async () => {
    const [a, b] = await Promise.all([instance(redis.url), instance(redis.url)]);
    const [x, y] = await Promise.all([wsConnect(a.url), wsConnect(b.url)]);
    x.send({ type: 'listen', otc: '121212' });
    y.send({ type: 'listen', otc: '121212' });
    const replies = await Promise.all([x.next(), y.next()]);
    expect(replies.filter((r) => r['type'] === 'ack')).toHaveLength(1);
    expect(replies.filter((r) => r['code'] === 'otc_in_use')).toHaveLength(1);
  });

  it('the rate limit is shared across instances', async () => {
    const opts = { trustProxy: 1, failedAttemptsPerIp: 2 };
    const [a, b, c] = await Promise.all([
      instance(redis.url, opts),
      instance(redis.url, opts),
      instance(redis.url, opts),
    ]);
    const codes: unknown[] = [];
    for (const relay of [a, b, c]) {
      const guesser = await wsConnect(relay.url, { 'x-forwarded-for': '203.0.113.9' });
      guesser.send({ type: 'connect', otc: '404040' });
      codes.push((await guesser.next())['code']);
    }
    expect(codes).toEqual(['otc_not_found', 'otc_not_found', 'rate_limited']);
  });

  it('the byte cap holds across instances', async () => {
    const opts = { maxSessionBytes: 1000 };
    const [a, b] = await Promise.all([instance(redis.url, opts), instance(redis.url, opts)]);
    const { target, controller } = await pairAcross(a, b, '818181');
    controller.send({ type: 'data', payload: 'x'.repeat(600) });
    expect(await target.next()).toMatchObject({ type: 'data' });
    controller.send({ type: 'data', payload: 'x'.repeat(600) });
    expect(await target.next()).toEqual({ type: 'error', code: 'session_data_limit' });
    expect(await controller.next()).toEqual({ type: 'error', code: 'session_data_limit' });
    expect((await controller.closed).code).toBe(1008);
  });

  it('a bootstrap jti used on one instance is refused on another', async () => {
    const [a, b] = await Promise.all([instance(redis.url), instance(redis.url)]);
    const watcher = await wsConnect(a.url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_shared' });
    await watcher.next();
    const first = await wsConnect(a.url);
    first.send({ type: 'bootstrap_init', jti: 'bt_shared', token: 't', targetPubKey: 'k' });
    await watcher.next();
    const replay = await wsConnect(b.url);
    replay.send({ type: 'bootstrap_init', jti: 'bt_shared', token: 't', targetPubKey: 'k2' });
    expect(await replay.next()).toEqual({ type: 'bootstrap_reject', error: 'token_already_used' });
  });

  it("stopping the controller's instance tells the target at once", async () => {
    const [a, b] = await Promise.all([
      instance(redis.url, { pairedTtlMs: 10_000 }),
      instance(redis.url, { pairedTtlMs: 10_000 }),
    ]);
    const { target, controller } = await pairAcross(a, b, '626262');
    const started = Date.now();
    await b.relay.stop();
    expect(await controller.next()).toEqual({ type: 'error', code: 'going_away' });
    expect(await target.next()).toEqual({ type: 'error', code: 'peer_disconnected' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a drain waits for its controllers' sessions on other instances", async () => {
    const [a, b] = await Promise.all([
      instance(redis.url),
      instance(redis.url, { drainMs: 10_000 }),
    ]);
    const { target, controller } = await pairAcross(a, b, '727272');
    let drained = false;
    const draining = b.relay.drain().then(() => (drained = true));
    controller.send({ type: 'data', payload: 'during the drain' });
    expect(await target.next()).toEqual({ type: 'data', payload: 'during the drain' });
    expect(drained).toBe(false);
    target.send({ type: 'done' });
    expect(await controller.next()).toEqual({ type: 'done' });
    await draining;
  });

  it('bootstrap across instances: watch on A, init on B, the answer back on B', async () => {
    const [a, b, c] = await Promise.all([
      instance(redis.url),
      instance(redis.url),
      instance(redis.url),
    ]);
    const watcher = await wsConnect(a.url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_x' });
    expect(await watcher.next()).toEqual({ type: 'bootstrap_watching', jti: 'bt_x' });
    const thief = await wsConnect(c.url);
    thief.send({ type: 'bootstrap_watch', jti: 'bt_x' });
    expect(await thief.next()).toEqual({ type: 'error', code: 'jti_already_watched' });

    const target = await wsConnect(b.url);
    target.send({ type: 'bootstrap_init', jti: 'bt_x', token: 'tok', targetPubKey: 'tpk', x: 1 });
    expect(await watcher.next()).toEqual({
      type: 'bootstrap_init',
      jti: 'bt_x',
      token: 'tok',
      targetPubKey: 'tpk',
    });
    watcher.send({ type: 'bootstrap_ack', jti: 'bt_x', publicKey: 'cpk' });
    expect(await target.next()).toEqual({
      type: 'bootstrap_ack',
      jti: 'bt_x',
      controllerPubKey: 'cpk',
    });
    const replay = await wsConnect(c.url);
    replay.send({ type: 'bootstrap_init', jti: 'bt_x', token: 'tok', targetPubKey: 'evil' });
    expect(await replay.next()).toEqual({ type: 'bootstrap_reject', error: 'token_already_used' });
  });

  it('a watcher leaving tells the init waiting on another instance', async () => {
    const [a, b] = await Promise.all([instance(redis.url), instance(redis.url)]);
    const watcher = await wsConnect(a.url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_y' });
    await watcher.next();
    const target = await wsConnect(b.url);
    target.send({ type: 'bootstrap_init', jti: 'bt_y', token: 't', targetPubKey: 'k' });
    await watcher.next();
    watcher.close();
    expect(await target.next()).toEqual({ type: 'bootstrap_reject', error: 'no_watcher' });
    // The watch is released cluster-wide: another instance may claim it now.
    const again = await wsConnect(b.url);
    for (;;) {
      again.send({ type: 'bootstrap_watch', jti: 'bt_y' });
      const reply = await again.next();
      if (reply['type'] === 'bootstrap_watching') break;
      expect(reply).toEqual({ type: 'error', code: 'jti_already_watched' });
    }
  });

  it('no watcher anywhere: no_watcher, and the token is not burned', async () => {
    const [a, b] = await Promise.all([instance(redis.url), instance(redis.url)]);
    const early = await wsConnect(b.url);
    early.send({ type: 'bootstrap_init', jti: 'bt_z', token: 't', targetPubKey: 'k' });
    expect(await early.next()).toEqual({ type: 'bootstrap_reject', error: 'no_watcher' });
    const watcher = await wsConnect(a.url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_z' });
    await watcher.next();
    early.send({ type: 'bootstrap_init', jti: 'bt_z', token: 't', targetPubKey: 'k' });
    expect(await watcher.next()).toMatchObject({ type: 'bootstrap_init', jti: 'bt_z' });
  });

  it('Redis keys and channels never hold a plain code or jti', async () => {
    const [a, b] = await Promise.all([instance(redis.url), instance(redis.url)]);
    // MONITOR on a plain socket: its output is all the test reads. (ioredis's
    // monitor() once took a monitored line for a reply to its own handshake
    // while the instances' probes ran: "Command queue state error".)
    const monitor = connect(redis.port, '127.0.0.1');
    let monitored = '';
    monitor.on('data', (chunk: Buffer) => (monitored += chunk.toString()));
    monitor.write('MONITOR\r\n');
    await eventually(() => monitored.startsWith('+OK'));
    try {
      const { target, controller } = await pairAcross(a, b, '864213');
      const watcher = await wsConnect(a.url);
      watcher.send({ type: 'bootstrap_watch', jti: 'jti-plain-42' });
      await watcher.next();
      const init = await wsConnect(b.url);
      init.send({ type: 'bootstrap_init', jti: 'jti-plain-42', token: 't', targetPubKey: 'k' });
      await watcher.next();
      target.send({ type: 'done' });
      await controller.next();
      await eventually(() => monitored.split('\n').length > 5);
    } finally {
      monitor.destroy();
    }
    const log = monitored;
    expect(log).toContain('pr:rv:');
    expect(log).toContain('pr:watch:');
    // Keys and channel names carry HMACs; only a bootstrap answer, forwarded
    // across instances like a data payload, would carry the jti as content.
    expect(log).not.toContain('864213');
    expect(log).not.toContain('jti-plain-42');
  });
});

describeRedis('Redis lost mid-flight', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });
  afterEach(cleanup);

  it('degrades (ready 503 when so set, local sessions keep working, cross-instance refused) and recovers', async () => {
    const opts = {
      redisUrl: redis.url,
      redisSecret: SECRET,
      redisTimeoutMs: 300,
      readyDuringRedisOutage: false,
    };
    const [a, b] = await Promise.all([startRelay(opts), startRelay(opts)]);
    await eventually(async () => (await fetch(a.httpUrl('/ready'))).status === 200);
    const local = await listenOn(a, '101010');
    const localController = await wsConnect(a.url);
    localController.send({ type: 'connect', otc: '101010' });
    await localController.next();
    await local.next();

    await redis.stop();
    await eventually(async () => (await fetch(a.httpUrl('/ready'))).status === 503);
    const ready = await fetch(a.httpUrl('/ready'));
    expect(await ready.json()).toMatchObject({ status: 'degraded', redis: 'unreachable' });
    expect((await fetch(a.httpUrl('/health'))).status).toBe(200);

    // The session local to A keeps working.
    local.send({ type: 'data', payload: 'still-local' });
    expect(await localController.next()).toEqual({ type: 'data', payload: 'still-local' });
    // A new session still opens (local only); a controller elsewhere is refused clearly.
    await listenOn(a, '202020');
    const elsewhere = await wsConnect(b.url);
    elsewhere.send({ type: 'connect', otc: '202020' });
    expect(await elsewhere.next()).toEqual({ type: 'error', code: 'relay_capacity' });

    // Misses during the outage still spend the address's guess budget.
    const guesser = await wsConnect(b.url);
    const codes: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      guesser.send({ type: 'connect', otc: String(500100 + i) });
      codes.push((await guesser.next())['code']);
    }
    expect(codes.slice(0, 4)).toEqual(Array(4).fill('relay_capacity'));
    expect(codes[5]).toBe('rate_limited');

    await redis.restart();
    await eventually(async () => (await fetch(a.httpUrl('/ready'))).status === 200, 10_000);
    await eventually(async () => (await fetch(b.httpUrl('/ready'))).status === 200, 10_000);
    const { target, controller } = await pairAcross(a, b, '303030');
    target.send({ type: 'data', payload: 'recovered' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'recovered' });
  });
});
