// node bench/edge.mjs: the Worker under miniflare (npm run edge, its own
// process) beside the Node server (dist/cli.js), both on their defaults,
// the same pairing load in turns, in one run; then what one pairing costs on
// the platform's bill, counted by the Worker itself (src/edge/usage.ts).
// miniflare is a local simulator: its figures compare the two paths on this
// machine, they are not Cloudflare's latencies. Needs `npm run build`.
import { pairings } from './load.mjs';
import { startServer } from './proc.mjs';

const root = new URL('..', import.meta.url).pathname;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 6_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);

const targets = [
  { name: 'relay (node)', args: [`${root}dist/cli.js`], env: {} },
  { name: 'worker (miniflare)', args: [`${root}scripts/edge.mjs`], env: { RELAY_EDGE_USAGE: '1' } },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map(targets.map((t) => [t.name, []]));
let perPairing;

for (let round = 0; round < ROUNDS; round++) {
  for (const target of targets) {
    const server = await startServer(process.execPath, target.args, target.env);
    try {
      const usageUrl = `http://127.0.0.1:${server.port}/usage`;
      const isEdge = target.env.RELAY_EDGE_USAGE === '1';
      const before = isEdge ? await (await fetch(usageUrl)).json() : undefined;
      const r = await pairings(server.url, { concurrency: CONCURRENCY, durationMs: DURATION_MS });
      results.get(target.name).push(r);
      if (isEdge) {
        // Let the last closes reach the objects before counting.
        await new Promise((resolve) => setTimeout(resolve, 500));
        const after = await (await fetch(usageUrl)).json();
        perPairing = Object.fromEntries(
          Object.keys(after).map((k) => [k, (after[k] - before[k]) / r.pairings]),
        );
      }
      console.error(
        `${target.name} round ${round + 1}: ${r.pairingsPerSec.toFixed(1)} pairings/s, p99 ${r.p99Ms.toFixed(0)} ms, errors ${r.errors}`,
      );
    } finally {
      // SIGTERM: both stop cleanly (the edge server removes miniflare's scratch directory).
      const exited = new Promise((resolve) => server.child.once('exit', resolve));
      server.child.kill('SIGTERM');
      await exited;
    }
  }
}

const rows = targets.map((t) => {
  const rs = results.get(t.name);
  return {
    target: t.name,
    pairingsPerSec: Number(median(rs.map((r) => r.pairingsPerSec)).toFixed(1)),
    p50Ms: Math.round(median(rs.map((r) => r.p50Ms))),
    p99Ms: Math.round(median(rs.map((r) => r.p99Ms))),
    errors: rs.reduce((n, r) => n + r.errors, 0),
  };
});
console.table(rows);
console.log('per pairing on the Worker (last round):');
console.table(
  Object.fromEntries(Object.entries(perPairing ?? {}).map(([k, v]) => [k, Number(v.toFixed(2))])),
);
console.log(
  JSON.stringify({
    concurrency: CONCURRENCY,
    durationMs: DURATION_MS,
    rounds: ROUNDS,
    rows,
    perPairing,
  }),
);
