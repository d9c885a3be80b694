// Cold start is paid by the first pairing after scale-to-zero, and Node
// spends much of it resolving and loading ~90 small module files. The CLI
// ships as one bundle (the library in dist/ stays unbundled for importers).
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry a content hash: without this, every build would leave the
// last one's chunks behind, and npm pack would ship them.
rmSync(new URL('../dist/cli-chunks', import.meta.url), { recursive: true, force: true });

await build({
  entryPoints: ['src/cli.ts'],
  // The Node transport (node:http + ws, most of the bundle) is a chunk of its
  // own, loaded only where it runs: Bun never reads it.
  outdir: 'dist',
  splitting: true,
  chunkNames: 'cli-chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  allowOverwrite: true,
  // Optional native speed-ups of ws, loaded at run time when installed.
  external: ['bufferutil', 'utf-8-validate'],
  // Bundled CommonJS (ws, pino) calls require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
