// npm run bench: the relay beside the bare baselines on each runtime (and,
// with BENCH_AMESH, the amesh relay it replaces), each its own process on
// 127.0.0.1, every server on its defaults, measured interleaved in one run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { forwarding, holdSessions, holdSockets, pairings } from './load.mjs';
import { coldStartMs, cpuSeconds, freePort, rssKiB, startServer, stopServer } from './proc.mjs';
import { measureFaults, measureScaleOut } from './scale-out.mjs';
import { measureRedisCost } from './redis-cost.mjs';

const root = new URL('..', import.meta.url).pathname;
const quick = process.argv.includes('--quick');
const S = quick ? 0.25 : 1;
// Every server runs its default configuration: the load generator gives
// each socket its own 127.x.y.z address instead of a forwarded header, and
// the idle figures are read well inside the default 10 s idle and 30 s TTLs.
// Memory is the marginal cost: RSS after the first FIRST_HELD units (JIT
// code, allocator arenas and pools a process pays once), then after
// MORE_HELD more, on a server that has held nothing else. 4,000 sessions are
// 8,000 sockets, under the default 10,000-socket cap.
const FIRST_HELD = quick ? 250 : 1000;
const MORE_HELD = quick ? 750 : 3000;
const COLD_STARTS = quick ? 5 : 15;
// Rounds of every scenario, targets taking turns; the median round counts.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 3));

const relayEnv = {};
const bun = `${root}node_modules/.bin/bun`;
const targets = [
  { name: 'relay (node)', cmd: process.execPath, args: [`${root}dist/cli.js`], env: relayEnv },
  { name: 'baseline (node)', cmd: process.execPath, args: [`${root}bench/baseline.mjs`], env: {} },
  { name: 'relay (bun)', cmd: bun, args: [`${root}dist/cli.js`], env: relayEnv },
  { name: 'baseline (bun)', cmd: bun, args: [`${root}bench/baseline-bun.mjs`], env: {} },
];
if (process.argv.includes('--no-bun')) targets.splice(2);
// BENCH_AMESH=<a checkout of ameshdev/amesh>: its relay under Bun, the one
// this project replaces (docs/benchmarks.md says how to get it).
const amesh = process.env.BENCH_AMESH;
if (amesh !== undefined && !process.argv.includes('--no-bun')) {
  targets.push({
    name: 'amesh relay (bun)',
    cmd: bun,
    args: [`${amesh}/packages/relay/src/start.ts`],
    env: {},
  });
}
// crossws's Bun adapter under the baseline's routing: what a peer/hooks layer costs.
if (process.argv.includes('--crossws')) {
  targets.push({
    name: 'crossws (bun)',
    cmd: bun,
    args: [`${root}bench/crossws-bun.mjs`],
    env: {},
  });
}
// BENCH_BEFORE=<dir with an older build's cli.js>: that build too, on both
// runtimes, in the same run, for before/after tables.
const before = process.env.BENCH_BEFORE;
if (before !== undefined) {
  targets.push(
    { name: 'before (node)', cmd: process.execPath, args: [`${before}/cli.js`], env: relayEnv },
    { name: 'before (bun)', cmd: bun, args: [`${before}/cli.js`], env: relayEnv },
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Each round starts one target later: a target's place in the round moved
// its CPU per pairing by up to 10% (the load generator's state after the
// previous target), so no target keeps the same place.
const turns = (n, round) => Array.from({ length: n }, (_, k) => (k + round) % n);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * One fresh server: what each unit held past the first FIRST_HELD adds to
 * its RSS, and the RSS left once all are closed. Sockets and sessions each
 * get their own server, so neither figure reuses heap the other left.
 */
async function marginalOnce(t, hold) {
  const server = await startServer(t.cmd, t.args, t.env);
  try {
    const warm = await holdSessions(server.url, 20, 10);
    await warm();
    const releaseFirst = await hold(server.url, FIRST_HELD);
    await sleep(500);
    const first = rssKiB(server.pid);
    const releaseMore = await hold(server.url, MORE_HELD);
    await sleep(1000);
    const held = rssKiB(server.pid);
    await releaseMore();
    await releaseFirst();
    // What the process keeps once every unit is gone (allocator, GC).
    await sleep(2000);
    return { kibPerUnit: (held - first) / MORE_HELD, rssAfterCloseKiB: rssKiB(server.pid) };
  } finally {
    await stopServer(server);
  }
}

async function memoryOnce(t) {
  const sockets = await marginalOnce(t, holdSockets);
  const sessions = await marginalOnce(t, (url, n) => holdSessions(url, n, 100));
  return {
    kibPerSocket: sockets.kibPerUnit,
    kibPerSession: sessions.kibPerUnit,
    rssAfterCloseKiB: sessions.rssAfterCloseKiB,
  };
}

async function measureMemory(list) {
  const runs = list.map(() => []);
  for (let round = 0; round < ROUNDS; round++)
    for (const i of turns(list.length, round)) runs[i].push(await memoryOnce(list[i]));
  return runs.map((r) => ({
    firstHeld: FIRST_HELD,
    moreHeld: MORE_HELD,
    kibPerSocket: median(r.map((x) => x.kibPerSocket)),
    kibPerSession: median(r.map((x) => x.kibPerSession)),
    rssAfterCloseKiB: median(r.map((x) => x.rssAfterCloseKiB)),
  }));
}

/**
 * Every target's server runs at once (an idle one costs nothing) and each
 * scenario takes turns: relay, baseline, relay under Bun, again, ROUNDS
 * times, each round starting one target later; the median round counts.
 * Noise on a shared machine then hits every target alike instead of
 * whichever happened to run during it.
 */
async function measureLoad(list) {
  const servers = await Promise.all(list.map((t) => startServer(t.cmd, t.args, t.env)));
  const rounds = list.map(() => ({
    pairingC50: [],
    pairingC200: [],
    forward1: [],
    forward10: [],
    health: [],
    cpu: 0,
    pairs: 0,
  }));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const i of turns(servers.length, round)) {
        const server = servers[i];
        const r = rounds[i];
        const cpu0 = cpuSeconds(server.pid);
        const c50 = await pairings(server.url, { concurrency: 50, durationMs: 2000 * S });
        const c200 = await pairings(server.url, { concurrency: 200, durationMs: 2000 * S });
        r.cpu += cpuSeconds(server.pid) - cpu0;
        r.pairs += c50.pairings + c200.pairings;
        r.pairingC50.push(c50);
        r.pairingC200.push(c200);
        r.forward1.push(await forwarding(server.url, { pairs: 1, durationMs: 1500 * S }));
        r.forward10.push(await forwarding(server.url, { pairs: 10, durationMs: 1500 * S }));
        const health = await autocannon({
          url: `http://127.0.0.1:${server.port}/health`,
          connections: 50,
          duration: quick ? 1 : 3,
        });
        r.health.push({ rps: health.requests.average, errors: health.errors + health.non2xx });
      }
    }
  } finally {
    await Promise.all(servers.map(stopServer));
  }
  const mid = (runs, key) => runs.find((x) => x[key] === median(runs.map((y) => y[key])));
  return rounds.map((r) => ({
    pairingC50: mid(r.pairingC50, 'pairingsPerSec'),
    pairingC200: mid(r.pairingC200, 'pairingsPerSec'),
    cpuSecondsPer1000Pairings: (r.cpu / r.pairs) * 1000,
    forward1: mid(r.forward1, 'messagesPerSec'),
    forward10: mid(r.forward10, 'messagesPerSec'),
    healthRps: median(r.health.map((h) => h.rps)),
    healthErrors: r.health.reduce((n, h) => n + h.errors, 0),
    pairingErrors: [...r.pairingC50, ...r.pairingC200].reduce((n, p) => n + p.errors, 0),
  }));
}

/** Spawn to first /health 200, targets taking turns; the median per target. */
async function measureColdStarts(list) {
  const port = await freePort();
  const samples = list.map(() => []);
  for (let i = 0; i < COLD_STARTS; i++)
    for (const [j, t] of list.entries())
      samples[j].push(await coldStartMs(t.cmd, t.args, t.env, port));
  return samples.map(median);
}

const results = {};
const started = Date.now();
const loads = await measureLoad(targets);
const memory = await measureMemory(targets);
const floorTarget = {
  cmd: process.execPath,
  args: [
    '-e',
    "require('http').createServer((q,s)=>s.end('ok')).listen(process.env.PORT,'127.0.0.1')",
  ],
  env: {},
};
const colds = await measureColdStarts([...targets, floorTarget]);
const floor = colds.pop();
for (const [i, t] of targets.entries()) {
  results[t.name] = { ...loads[i], idle: memory[i], coldStartMsMedian: colds[i] };
  console.log(JSON.stringify({ target: t.name, ...results[t.name] }));
}
console.log(
  JSON.stringify({ target: 'bare node http (cold-start floor)', coldStartMsMedian: floor }),
);

const base = results['baseline (node)'];
const rows = [
  ['pairings/s, concurrency 50', (r) => r.pairingC50.pairingsPerSec, 'higher'],
  ['pairing p50 ms, c50', (r) => r.pairingC50.p50Ms, 'lower'],
  ['pairing p99 ms, c50', (r) => r.pairingC50.p99Ms, 'lower'],
  ['pairings/s, concurrency 200', (r) => r.pairingC200.pairingsPerSec, 'higher'],
  ['pairing p50 ms, c200', (r) => r.pairingC200.p50Ms, 'lower'],
  ['pairing p95 ms, c200', (r) => r.pairingC200.p95Ms, 'lower'],
  ['pairing p99 ms, c200', (r) => r.pairingC200.p99Ms, 'lower'],
  ['forwarding msg/s, 1 pair', (r) => r.forward1.messagesPerSec, 'higher'],
  ['forwarding MB/s, 1 pair', (r) => r.forward1.mbPerSec, 'higher'],
  ['forwarding p99 one-way ms, 1 pair', (r) => r.forward1.p99OneWayMs, 'lower'],
  ['forwarding msg/s, 10 pairs', (r) => r.forward10.messagesPerSec, 'higher'],
  ['forwarding MB/s, 10 pairs', (r) => r.forward10.mbPerSec, 'higher'],
  ['forwarding p99 one-way ms, 10 pairs', (r) => r.forward10.p99OneWayMs, 'lower'],
  [
    `RSS KiB per connected socket before listen/connect (marginal, ${FIRST_HELD} → ${FIRST_HELD + MORE_HELD} held)`,
    (r) => r.idle.kibPerSocket,
    'lower',
  ],
  [
    `idle RSS KiB per paired session (marginal, ${FIRST_HELD} → ${FIRST_HELD + MORE_HELD} held)`,
    (r) => r.idle.kibPerSession,
    'lower',
  ],
  [
    `RSS MiB after all ${FIRST_HELD + MORE_HELD} sessions closed`,
    (r) => r.idle.rssAfterCloseKiB / 1024,
    'lower',
  ],
  ['/health req/s (autocannon, 50 conns)', (r) => r.healthRps, 'higher'],
  ['server CPU-s per 1,000 pairings', (r) => r.cpuSecondsPer1000Pairings, 'lower'],
  ['errors, pairings and /health (all rounds)', (r) => r.pairingErrors + r.healthErrors, 'count'],
  ['cold start ms (median of spawns)', (r) => r.coldStartMsMedian, 'lower'],
];
const names = Object.keys(results);
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ameshName = 'amesh relay (bun)';
const header = [
  'metric',
  ...names.flatMap((n) => (n.startsWith('baseline') ? [n] : [n, 'ratio'])),
  ...(results[ameshName] ? ['relay (bun) ÷ amesh'] : []),
];
const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
const ratio = (v, of, kind) => (kind === 'count' ? '' : `${(v / of).toFixed(2)}x`);
for (const [label, pick, kind] of rows) {
  const cells = names.flatMap((n) => {
    const v = pick(results[n]);
    if (n.startsWith('baseline')) return [fmt(v)];
    // Each runtime's relay against the bare relay on the same runtime.
    const own = n.endsWith('(bun)') ? (results['baseline (bun)'] ?? base) : base;
    return [fmt(v), ratio(v, pick(own), kind)];
  });
  if (results[ameshName])
    cells.push(ratio(pick(results['relay (bun)']), pick(results[ameshName]), kind));
  lines.push(`| ${label} | ${cells.join(' | ')} |`);
}
lines.push(
  `| cold start floor: bare \`node -e http.createServer\` ms | ${fmt(floor)} |${' |'.repeat(header.length - 2)}`,
);
const table = lines.join('\n');
console.log('\n' + table);

const scaleOut = await measureScaleOut(`${root}dist/cli.js`, relayEnv, 4000 * S);
console.log(JSON.stringify({ target: 'scale-out: 2 node instances + redis, c50', ...scaleOut }));
let scaleTable = '';
if (scaleOut.skipped === undefined) {
  const s = scaleOut.sameInstance;
  const c = scaleOut.crossInstance;
  const ratio = (x, y) => `${(x / y).toFixed(2)}x`;
  scaleTable = [
    '| scale-out (Redis, 2 instances), concurrency 50 | same instance | cross-instance | ratio |',
    '|---|---|---|---|',
    `| pairings/s | ${fmt(s.pairingsPerSec)} | ${fmt(c.pairingsPerSec)} | ${ratio(c.pairingsPerSec, s.pairingsPerSec)} |`,
    `| pairing p50 ms | ${fmt(s.p50Ms)} | ${fmt(c.p50Ms)} | ${ratio(c.p50Ms, s.p50Ms)} |`,
    `| pairing p99 ms | ${fmt(s.p99Ms)} | ${fmt(c.p99Ms)} | ${ratio(c.p99Ms, s.p99Ms)} |`,
  ].join('\n');
  console.log('\n' + scaleTable);
}
const faults = await measureFaults(`${root}dist/cli.js`, relayEnv, quick ? 3 : 5);
console.log(JSON.stringify({ target: 'scale-out faults: 2 node instances + redis', ...faults }));
let faultTable = '';
if (faults.skipped === undefined) {
  const row = (label, f) => `| ${label} | ${fmt(f.median)} | ${fmt(f.max)} |`;
  faultTable = [
    `| scale-out faults (defaults: peer timeout 3 s, Redis timeout 1 s), ${faults.rounds} rounds | median ms | max ms |`,
    '|---|---|---|',
    row(
      'owner killed (SIGKILL) → quiet controller elsewhere gets `peer_disconnected`',
      faults.deathToPeerDisconnectedMs,
    ),
    row('Redis up (instances booted first) → `/ready` 200 on both', faults.redisUpToReadyMs),
    row(
      'Redis up (instances booted first) → first cross-instance pairing',
      faults.redisUpToCrossPairingMs,
    ),
  ].join('\n');
  console.log('\n' + faultTable);
}
const redisCost = await measureRedisCost(`${root}dist/cli.js`, relayEnv, {
  idleMs: quick ? 5000 : 10_000,
});
console.log(JSON.stringify({ target: 'scale-out Redis cost (INFO commandstats)', ...redisCost }));
console.log(
  `\n${cpus().length} cores (${cpus()[0]?.model}), node ${process.version}; load generator and servers share the cores. ${((Date.now() - started) / 1000).toFixed(0)} s.`,
);
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(
  `${root}bench/results/latest.json`,
  JSON.stringify(
    { results, floor, scaleOut, faults, redisCost, date: new Date().toISOString() },
    null,
    2,
  ),
);
writeFileSync(`${root}bench/results/latest.md`, `${table}\n\n${scaleTable}\n\n${faultTable}\n`);
