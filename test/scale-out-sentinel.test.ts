import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RelayOptions } from '../src/index.js';
import { exchange, pairAcross, SECRET } from './helpers/cluster.js';
import { cleanup, startRelay, wsConnect, type StartedRelay } from './helpers/relay.js';
import { hasRedis } from './helpers/redis.js';
import {
  ask,
  startSentinels,
  waitFor,
  type RedisNode,
  type Topology,
} from './helpers/redis-topologies.js';
import { captureLog, lineWith } from './helpers/log-capture.js';
import { transport } from './helpers/transports.js';

// Scale-out behind Sentinel: 1 primary, 1 replica, 3 sentinels, all real,
// all in one temp dir; the primary is SIGKILLed mid-run.
// Needs redis-server and the scaleOut capability.
const usable = hasRedis && transport.has('scaleOut');
// Missing tools fail under CI; a transport without scale-out (the edge) skips.
if (!hasRedis && process.env['CI'] === 'true') throw new Error('CI=true requires redis-server');
const describeSentinel = usable ? describe : describe.skip;

async function readyBody(relay: StartedRelay): Promise<Record<string, unknown>> {
  const res = await fetch(relay.httpUrl('/ready'));
  return (await res.json()) as Record<string, unknown>;
}

/** Retries a cross-instance pairing, each on a fresh code from `firstCode`, until one pairs (30 s at most). */
async function pairsAgain(a: StartedRelay, b: StartedRelay, firstCode: number): Promise<void> {
  let n = 0;
  await waitFor(
    'a cross-instance pairing through the promoted replica',
    async () => {
      const code = String(firstCode + n++);
      const pair = await pairAcross(a.url, b.url, code);
      await exchange(pair.target, pair.controller, code);
      return true;
    },
    30_000,
  );
}

describeSentinel('scale-out behind Redis Sentinel', () => {
  let topology: Topology | undefined;
  let primary: RedisNode;
  let replica: RedisNode;
  let sentinels: string;
  const instance = (extra: RelayOptions = {}): Promise<StartedRelay> =>
    startRelay({ redisSentinels: sentinels, redisSecret: SECRET, redisTimeoutMs: 500, ...extra });

  beforeAll(async () => {
    ({ topology, primary, replica, sentinels } = await startSentinels());
  }, 40_000);
  afterAll(async () => {
    await cleanup();
    await topology?.stop();
  });
  afterEach(cleanup);

  it('pairs across instances; primary SIGKILLed: shared sessions end, pairing back within 30 s', async () => {
    const started = captureLog('info');
    const [a, b] = await Promise.all([instance({ logger: started.logger }), instance()]);
    for (const relay of [a, b]) {
      await waitFor('ready', async () => (await readyBody(relay))['status'] === 'ready', 10_000);
    }
    if (transport.has('logs')) {
      expect(await lineWith(started, 'listening')).toMatchObject({ scaleOut: 'redis-sentinel' });
    }
    const first = await pairAcross(a.url, b.url, '123123');
    await exchange(first.target, first.controller, 'before');
    expect(String(await ask(replica.port, 'INFO', 'replication'))).toContain('role:slave');

    // A jti burned just before the kill: WAIT had a replica take it.
    const watcher = await wsConnect(a.url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_failover' });
    await watcher.next();
    const init = await wsConnect(a.url);
    init.send({ type: 'bootstrap_init', jti: 'bt_failover', token: 't', targetPubKey: 'k' });
    await watcher.next();
    // WAIT gives a replica 100 ms to take it (docs/scale-out.md: the window that stays); on
    // a loaded machine it can take longer, so the test waits to see it there before the kill.
    await waitFor(
      'the burned jti on the replica',
      async () => ((await ask(replica.port, 'KEYS', 'pr:jti:*')) as string[]).length > 0,
      10_000,
    );

    const killed = Date.now();
    await primary.kill();
    // Messages published while the subscriber was away are lost: the
    // session shared across the two instances ends instead of hanging.
    expect(await first.target.next(15_000)).toEqual({ type: 'error', code: 'peer_disconnected' });
    expect(await first.controller.next(15_000)).toEqual({
      type: 'error',
      code: 'peer_disconnected',
    });

    await pairsAgain(a, b, 400000);
    const back = Date.now() - killed;
    expect(back).toBeLessThan(30_000);
    expect(String(await ask(replica.port, 'INFO', 'replication'))).toContain('role:master');
    // Never usable twice, not even through the promoted replica.
    const replay = await wsConnect(b.url);
    replay.send({ type: 'bootstrap_init', jti: 'bt_failover', token: 't', targetPubKey: 'k2' });
    expect(await replay.next()).toEqual({ type: 'bootstrap_reject', error: 'token_already_used' });
    console.log(`sentinel failover: cross-instance pairing back ${back} ms after the SIGKILL`);
  }, 60_000);
});

describeSentinel('scale-out behind Redis Sentinel, the primary frozen', () => {
  let topology: Topology | undefined;
  let primary: RedisNode;
  let replica: RedisNode;
  let sentinels: string;

  beforeAll(async () => {
    ({ topology, primary, replica, sentinels } = await startSentinels());
  }, 40_000);
  afterAll(async () => {
    await cleanup();
    primary.thaw();
    await topology?.stop();
  });

  it('primary SIGSTOPped (it never answers, never closes): the relays follow the failover, pairing back within 30 s', async () => {
    const instance = (): Promise<StartedRelay> =>
      startRelay({ redisSentinels: sentinels, redisSecret: SECRET, redisTimeoutMs: 500 });
    const [a, b] = await Promise.all([instance(), instance()]);
    for (const relay of [a, b]) {
      await waitFor('ready', async () => (await readyBody(relay))['status'] === 'ready', 10_000);
    }
    const first = await pairAcross(a.url, b.url, '223223');
    await exchange(first.target, first.controller, 'before');

    const frozen = Date.now();
    primary.freeze();
    await pairsAgain(a, b, 500000);
    const back = Date.now() - frozen;
    expect(String(await ask(replica.port, 'INFO', 'replication'))).toContain('role:master');
    for (const relay of [a, b]) expect((await readyBody(relay))['status']).toBe('ready');
    console.log(`sentinel failover: cross-instance pairing back ${back} ms after the SIGSTOP`);
  }, 60_000);
});
