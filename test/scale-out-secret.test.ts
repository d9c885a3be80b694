import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delay } from './helpers/relay.js';
import { hasRedis, startRedis, type TestRedis } from './helpers/redis.js';
import { startRelayProcess, type RelayProcess } from './helpers/instances.js';
import { transport } from './helpers/transports.js';

// Two replicas given two secrets: each must say so, on /ready, in a log line
// and a metric, without either secret crossing Redis or reaching a log.
// Needs redis-server and the cli capability (relay processes, their logs).
const describeRedis = hasRedis && transport.has('cli') ? describe : describe.skip;
if (!hasRedis && process.env['CI'] === 'true') throw new Error('CI=true requires redis-server');

const ONE = 'secret-one-0123456789abcdef';
const TWO = 'secret-two-0123456789abcdef';

/** Polls /ready every 200 ms until its body says `cluster: state`. */
async function clusterBecomes(
  relay: RelayProcess,
  state: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (((await relay.ready()).body as Record<string, unknown>)['cluster'] !== state) {
    if (Date.now() > deadline) throw new Error(`/ready never said cluster: ${state}`);
    await delay(200);
  }
}

describeRedis('one RELAY_REDIS_SECRET per Redis and prefix, checked', () => {
  let redis: TestRedis;
  const relays: RelayProcess[] = [];
  const start = async (env: Record<string, string>): Promise<RelayProcess> => {
    const relay = await startRelayProcess({ RELAY_METRICS: '1', ...env });
    relays.push(relay);
    return relay;
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.kill('SIGKILL')));
    await redis?.stop();
  });

  it('two secrets on one Redis: both report secret_mismatch within 10 s; one secret: ok', async () => {
    // db 0: two secrets; db 1: one secret twice, the control.
    // e: the second secret again, under another prefix: not compared.
    const [a, b, c, d, e] = await Promise.all([
      start({ REDIS_URL: redis.url, RELAY_REDIS_SECRET: ONE }),
      start({ REDIS_URL: redis.url, RELAY_REDIS_SECRET: TWO }),
      start({ REDIS_URL: `${redis.url}/1`, RELAY_REDIS_SECRET: ONE }),
      start({ REDIS_URL: `${redis.url}/1`, RELAY_REDIS_SECRET: ONE }),
      start({ REDIS_URL: redis.url, RELAY_REDIS_SECRET: TWO, RELAY_REDIS_PREFIX: 'other:' }),
    ]);
    const started = Date.now();
    for (const relay of [a, b]) {
      await clusterBecomes(relay, 'secret_mismatch', 10_000);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const relay of [a, b]) {
      // 200: a 503 on every replica would empty the load balancer.
      expect(await relay.ready()).toEqual({
        status: 200,
        body: { status: 'degraded', redis: 'ok', instance: 'ok', cluster: 'secret_mismatch' },
      });
      const metrics = await (await fetch(relay.httpUrl('/metrics'))).text();
      expect(metrics).toMatch(/^pairing_relay_foreign_secrets 1$/m);
      const lines = relay
        .logs()
        .split('\n')
        .filter((l) => l.includes('"level":50'));
      expect(lines.some((l) => l.includes('RELAY_REDIS_SECRET'))).toBe(true);
      expect(relay.logs()).not.toContain(ONE);
      expect(relay.logs()).not.toContain(TWO);
    }
    for (const relay of [c, d, e]) {
      expect(await relay.ready()).toEqual({
        status: 200,
        body: { status: 'ready', redis: 'ok', instance: 'ok', cluster: 'ok' },
      });
      const metrics = await (await fetch(relay.httpUrl('/metrics'))).text();
      expect(metrics).toMatch(/^pairing_relay_foreign_secrets 0$/m);
    }

    // The odd one goes: the other is back to ready once its fingerprint stops changing.
    await b.kill('SIGKILL');
    await clusterBecomes(a, 'ok', 10_000);
    expect((await a.ready()).status).toBe(200);
    expect(a.logs()).toContain('every instance now shares one secret');
  }, 40_000);
});
