// Cold start is paid by the first pairing after scale-to-zero, and Node
// spends much of it resolving and loading ~90 small module files. The CLI
// ships as one file (the library in dist/ stays unbundled for importers):
// measured, one file starts faster on both runtimes than the relay split into
// chunks (each chunk is another module to resolve, load and link), and ws
// inside it costs Bun nothing it does not run.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Earlier builds wrote chunks here; npm pack must not ship them.
rmSync(new URL('../dist/cli-chunks', import.meta.url), { recursive: true, force: true });

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  allowOverwrite: true,
  // Optional native speed-ups of ws, loaded at run time when installed.
  external: ['bufferutil', 'utf-8-validate'],
  // Bundled CommonJS (ws) calls require(); give the ESM bundle one. Only ws
  // needs it, and Bun never runs ws: making it there costs every Bun start ms.
  banner: {
    js: "import { createRequire as __bundleRequire } from 'node:module'; const require = 'Bun' in globalThis ? undefined : __bundleRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
