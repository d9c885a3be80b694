// What scale-out costs in Redis: commands and bytes per cross-instance
// pairing, and per instance per idle second (with and without idle
// sessions), read from INFO commandstats / INFO stats of a real redis-server.
// Standalone: `npm run build && node bench/redis-cost.mjs`; also run by `npm run bench`.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { pairUp } from './load.mjs';
import { startRedis, startServer, stopServer } from './proc.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Commands (by name) and bytes since the last reset, minus this bench's own INFO/CONFIG. */
async function readStats(admin) {
  const text = await admin.info('commandstats');
  const byCommand = {};
  for (const m of text.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) {
    if (m[1] === 'info' || m[1].startsWith('config')) continue;
    byCommand[m[1]] = Number(m[2]);
  }
  const stats = await admin.info('stats');
  const num = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  const calls = Object.values(byCommand).reduce((a, b) => a + b, 0);
  return {
    calls,
    byCommand,
    inBytes: num('total_net_input_bytes'),
    outBytes: num('total_net_output_bytes'),
  };
}

async function window(admin, ms) {
  await admin.config('RESETSTAT');
  const t0 = Date.now();
  await sleep(ms);
  const s = await readStats(admin);
  return { ...s, seconds: (Date.now() - t0) / 1000 };
}

export async function measureRedisCost(
  cliPath,
  relayEnv = {},
  { pairings = 200, idleMs = 10_000, idleSessions = [20, 200] } = {},
) {
  if (spawnSync('redis-server', ['--version']).status !== 0) return { skipped: 'no redis-server' };
  const redis = await startRedis();
  const admin = new Redis({ port: redis.port, host: '127.0.0.1' });
  const env = {
    ...relayEnv,
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    RELAY_REDIS_SECRET: 'bench-secret-0123456789',
  };
  const a = await startServer(process.execPath, [cliPath], env);
  const b = await startServer(process.execPath, [cliPath], env);
  try {
    await sleep(1500); // both joined, secrets compared once
    const idle = await window(admin, idleMs);

    await admin.config('RESETSTAT');
    const t0 = Date.now();
    let left = pairings;
    const worker = async () => {
      while (left-- > 0) {
        const { target, controller } = await pairUp(a.url, b.url);
        target.send('{"type":"data","payload":"t"}');
        await controller.next();
        controller.send('{"type":"data","payload":"c"}');
        await target.next();
        target.send('{"type":"done"}');
        await controller.next();
        await Promise.all([target.close(), controller.close()]);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    const busySeconds = (Date.now() - t0) / 1000;
    await sleep(300); // releases land
    const busy = await readStats(admin);
    // Take away what two idle instances would have sent meanwhile.
    const idlePerSecond = idle.calls / idle.seconds;
    const idleBytesPerSecond = (idle.inBytes + idle.outBytes) / idle.seconds;
    const background = idlePerSecond * (busySeconds + 0.3);
    const perPairing = (busy.calls - background) / pairings;
    const bytesPerPairing =
      (busy.inBytes + busy.outBytes - idleBytesPerSecond * (busySeconds + 0.3)) / pairings;
    const byCommand = Object.fromEntries(
      Object.entries(busy.byCommand).map(([k, v]) => [k, Math.round((v / pairings) * 100) / 100]),
    );

    // Idle sessions: cross-instance pairs held open, nothing sent; two counts,
    // to show the cost follows instances, not sessions.
    const held = [];
    const withSessions = [];
    for (const count of idleSessions) {
      while (held.length < count) held.push(await pairUp(a.url, b.url));
      await sleep(1000);
      const w = await window(admin, idleMs);
      withSessions.push({
        sessions: count,
        commandsPerInstancePerSecond: Math.round((w.calls / w.seconds / 2) * 10) / 10,
        bytesPerInstancePerSecond: Math.round((w.inBytes + w.outBytes) / w.seconds / 2),
        byCommand: w.byCommand,
      });
    }
    await Promise.all(
      held.flatMap(({ target, controller }) => [target.close(), controller.close()]),
    );

    return {
      pairings,
      commandsPerPairing: Math.round(perPairing * 10) / 10,
      bytesPerPairing: Math.round(bytesPerPairing),
      commandsPerPairingByCommand: byCommand,
      idle: {
        commandsPerInstancePerSecond: Math.round((idle.calls / idle.seconds / 2) * 10) / 10,
        bytesPerInstancePerSecond: Math.round((idle.inBytes + idle.outBytes) / idle.seconds / 2),
        byCommand: idle.byCommand,
      },
      idleWithSessions: withSessions,
    };
  } finally {
    admin.disconnect();
    await stopServer(a);
    await stopServer(b);
    redis.child.kill('SIGKILL');
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const cli = new URL('../dist/cli.js', import.meta.url).pathname;
  console.log(JSON.stringify(await measureRedisCost(cli), null, 2));
}
