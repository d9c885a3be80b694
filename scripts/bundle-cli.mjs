// The CLI's own code as one module plus chunks for what only some starts
// need (scale-out, metrics), so that a start resolves and links a handful of
// files of ours instead of ~60. Packages stay external and load from
// node_modules the ordinary way; the library in dist/ stays unbundled for
// importers. Code splitting keeps each dynamic import() a separate chunk:
// an in-memory relay never loads ioredis, and one without metrics never
// loads prom-client.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  entryNames: '[name]',
  chunkNames: 'cli-chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  packages: 'external',
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
