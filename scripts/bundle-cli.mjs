// Cold start is paid by the first pairing after scale-to-zero, and Node
// spends much of it resolving and loading ~90 small module files. The CLI
// ships as two files (the library in dist/ stays unbundled for importers):
// dist/cli.js, the relay, and dist/cli-ws.js, ws, which only the Node
// transport loads and Bun never reads. Measured, that starts faster on both
// runtimes than esbuild's code splitting, whose shared chunks (its runtime
// helpers among them) are more modules to resolve, load and link.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Earlier builds wrote chunks here; npm pack must not ship them.
rmSync(new URL('../dist/cli-chunks', import.meta.url), { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  allowOverwrite: true,
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  plugins: [
    {
      name: 'ws-apart',
      setup(b) {
        b.onResolve({ filter: /^ws$/ }, () => ({ path: './cli-ws.js', external: true }));
      },
    },
  ],
});

await build({
  ...common,
  stdin: { contents: "export { WebSocketServer } from 'ws';", resolveDir: '.' },
  outfile: 'dist/cli-ws.js',
  // Optional native speed-ups of ws, loaded at run time when installed.
  external: ['bufferutil', 'utf-8-validate'],
  // ws is CommonJS and calls require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
  },
});
