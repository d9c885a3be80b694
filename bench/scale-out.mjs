// Scale-out figures: pairings whose two devices land on two relay instances
// sharing a Redis, beside pairings on one instance, measured in the same run.
import { spawnSync } from 'node:child_process';
import { bootBeforeRedis, deathToPeerDisconnected } from './faults.mjs';
import { pairings } from './load.mjs';
import { freePort, startRedis, startServer, stopServer } from './proc.mjs';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function measureScaleOut(cliPath, relayEnv, durationMs) {
  if (spawnSync('redis-server', ['--version']).status !== 0) return { skipped: 'no redis-server' };
  const redis = await startRedis();
  const env = { ...relayEnv, REDIS_URL: redis.url, RELAY_REDIS_SECRET: 'bench-secret-0123456789' };
  const a = await startServer(process.execPath, [cliPath], env);
  const b = await startServer(process.execPath, [cliPath], env);
  try {
    const same = await pairings(a.url, { concurrency: 50, durationMs });
    const cross = await pairings(a.url, { concurrency: 50, durationMs, controllerUrl: b.url });
    return { sameInstance: same, crossInstance: cross };
  } finally {
    await stopServer(a);
    await stopServer(b);
    redis.child.kill('SIGKILL');
  }
}

/** Fault figures, median of `rounds`, with the default timeouts (peer 3 s, Redis 1 s). */
export async function measureFaults(cliPath, relayEnv, rounds) {
  if (spawnSync('redis-server', ['--version']).status !== 0) return { skipped: 'no redis-server' };
  const redis = await startRedis();
  const secret = 'bench-secret-0123456789';
  const deaths = [];
  try {
    const vars = { ...relayEnv, REDIS_URL: redis.url, RELAY_REDIS_SECRET: secret };
    for (let i = 0; i < rounds; i++)
      deaths.push(await deathToPeerDisconnected({ cli: cliPath, vars }));
  } finally {
    redis.child.kill('SIGKILL');
  }
  const boots = [];
  for (let i = 0; i < rounds; i++) {
    const port = await freePort();
    const vars = {
      ...relayEnv,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RELAY_REDIS_SECRET: secret,
    };
    boots.push(
      await bootBeforeRedis({ cli: cliPath, vars }, async (p) => (await startRedis(p)).child, port),
    );
  }
  return {
    rounds,
    deathToPeerDisconnectedMs: { median: median(deaths), max: Math.max(...deaths) },
    redisUpToReadyMs: {
      median: median(boots.map((b) => b.readyMs)),
      max: Math.max(...boots.map((b) => b.readyMs)),
    },
    redisUpToCrossPairingMs: {
      median: median(boots.map((b) => b.pairedMs)),
      max: Math.max(...boots.map((b) => b.pairedMs)),
    },
  };
}
