// publint and arethetypeswrong on the tarball `npm publish` would upload, not on the
// work tree: what `files`, `exports` and `types` leave out only shows in the pack.
// Run after `npm run build` (npm run lint:package does both); the pack skips prepack's
// build, which would empty dist/ under whatever else is reading it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'pairing-relay-lint-'));
const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' });
try {
  const [info] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
      encoding: 'utf8',
    }),
  );
  const tarball = join(dir, info.filename);
  run('npx', ['--no-install', 'publint', 'run', tarball, '--strict', '--level', 'suggestion']);
  // ESM only, by design: CommonJS callers load it with import(), or with require() on
  // Node 20.19+ (require(esm): the exports' `default` condition is what require() finds;
  // test/package.test.ts runs it), which attw's node16-from-CJS check predates. The node16
  // profile: engines is node >= 20, and node10 resolution cannot see the subpath
  // export pairing-relay/cloudflare (nothing that old can import this package).
  run('npx', [
    '--no-install',
    'attw',
    tarball,
    '--profile',
    'node16',
    '--format',
    'ascii',
    '--ignore-rules',
    'cjs-resolves-to-esm',
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
