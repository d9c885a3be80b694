// The CLI's own code as one module plus chunks for what only some starts
// need (scale-out, metrics), so that a start resolves and links a handful of
// files of ours instead of ~60. The library in dist/ stays unbundled for
// importers. Code splitting keeps each dynamic import() a separate chunk:
// an in-memory relay never loads ioredis, and one without metrics never
// loads prom-client.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

// Packages load from node_modules the ordinary way, except two small
// CommonJS ones that every start reads: ipaddr.js and proxy-addr (with its
// own ipaddr.js 1 and forwarded). When an ES module imports a CommonJS one,
// Node 20 first scans its source for export names (cjs-module-lexer);
// bundled, they are plain code in the CLI and nothing is scanned. Measured:
// spawn to first /health 200 on Node, 40 interleaved starts, 1.15x of the
// library-loading baseline before, 0.94x after; on Bun within noise
// (docs/benchmarks.md).
const BUNDLED = new Set(['ipaddr.js', 'proxy-addr']);
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter(
  (name) => !BUNDLED.has(name),
);

await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  entryNames: '[name]',
  chunkNames: 'cli-chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  external,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  allowOverwrite: true,
  logLevel: 'warning',
});

// pairing-relay/cloudflare: one self-contained module for workerd, which
// has Web APIs and, with the nodejs_compat flag, the node: modules it uses
// (buffer, crypto, util, fs); its dependencies are bundled in, so a Worker
// project needs no resolution of ours, and a Node-only import fails here.
await build({
  entryPoints: ['src/cloudflare.ts'],
  outfile: 'dist/cloudflare.js',
  bundle: true,
  platform: 'neutral',
  conditions: ['workerd', 'worker', 'browser'],
  mainFields: ['module', 'main'],
  external: ['node:*'],
  format: 'esm',
  target: 'es2022',
  allowOverwrite: true,
  logLevel: 'warning',
});
