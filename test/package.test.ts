// Transport-independent: one tarball for all; installed and run once, its Bun half by explicit bun.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../src/config/options.js';
import { cleanup, pair, upgradeStatus, wsConnect } from './helpers/relay.js';
import { killChildren, track, type Exit } from './helpers/process.js';

// The package as a user gets it: `npm pack`, installed into a fresh project,
// run through its bin and imported by name; and the CLI under Bun.
// `npm test` has built dist/ before vitest runs.
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUN = join(ROOT, 'node_modules', '.bin', 'bun');
const run = promisify(execFile);
const SLOW = 120_000;

afterEach(async () => {
  await cleanup();
  killChildren();
});

/**
 * The runner's environment minus relay settings and what an enclosing
 * `npm test` sets for its own package, so a nested npm sees only its project.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete env[setting.env];
  for (const key of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|command$|config_local_prefix$|config_call$)/i.test(key)) {
      delete env[key];
    }
  }
  delete env['INIT_CWD'];
  return env;
}

/** Starts a relay process and resolves with its port once it logs "listening". */
function startRelayProcess(
  command: string,
  args: string[],
  cwd: string,
): {
  child: ChildProcess;
  exited: Promise<Exit>;
  listening: Promise<{ url: string; port: number }>;
} {
  const child = spawn(command, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const listening = new Promise<{ url: string; port: number }>((resolve, reject) => {
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (parsed['msg'] === 'listening') {
          const url = String(parsed['url']);
          resolve({ url, port: Number(new URL(url).port) });
        }
      }
    });
    void exited.then((exit) =>
      reject(new Error(`exited ${JSON.stringify(exit)} before listening; stderr: ${stderr}`)),
    );
  });
  return { child, exited, listening };
}

describe('npm package', { timeout: SLOW }, () => {
  let tmp = '';
  let project = '';
  let packedFiles: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'pairing-relay-pack-'));
    // --ignore-scripts: prepack's build would empty dist/ under the other test files.
    const packed = await run(
      'npm',
      ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp],
      { cwd: ROOT, env: childEnv() },
    );
    const [info] = JSON.parse(packed.stdout) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    if (info === undefined) throw new Error(`npm pack printed nothing: ${packed.stderr}`);
    packedFiles = info.files.map((f) => f.path);
    project = join(tmp, 'consumer');
    await mkdir(project);
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    await run(
      'npm',
      ['install', join(tmp, info.filename), '--no-audit', '--no-fund', '--prefer-offline'],
      { cwd: project, env: childEnv() },
    );
  }, SLOW);

  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('the tarball holds the built code, not the sources or tests', () => {
    for (const file of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'dist/cli.js',
      'dist/index.js',
    ]) {
      expect(packedFiles).toContain(file);
    }
    expect(packedFiles).toContain('dist/index.d.ts');
    expect(packedFiles.filter((f) => /^(src|test|bench|node_modules)\//.test(f))).toEqual([]);
  });

  it('the installed bin serves and pairs, and exits 0 on SIGTERM', async () => {
    const bin = join(project, 'node_modules', '.bin', 'pairing-relay');
    const relay = startRelayProcess(bin, ['--port', '0', '--host', '127.0.0.1'], project);
    const { url, port } = await relay.listening;
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    const { target, controller } = await pair(url);
    target.send({ type: 'data', payload: 'from the tarball' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'from the tarball' });
    controller.send({ type: 'done' });
    expect(await target.next()).toEqual({ type: 'done' });
    relay.child.kill('SIGTERM');
    expect(await relay.exited).toEqual({ code: 0, signal: null });
  });

  /** Writes `lines` as a script in the consumer project, runs it with node, parses what it prints. */
  async function runInProject(name: string, lines: string[]): Promise<unknown> {
    const script = join(project, name);
    await writeFile(script, lines.join('\n'));
    const { stdout } = await run(process.execPath, [script], { cwd: project, env: childEnv() });
    return JSON.parse(stdout);
  }

  it("import('pairing-relay') from the project resolves to the installed copy and starts", async () => {
    const result = (await runInProject('check.mjs', [
      "import { createRelayServer, VERSION } from 'pairing-relay';",
      "const resolved = import.meta.resolve('pairing-relay');",
      "const relay = await createRelayServer({ port: 0, host: '127.0.0.1', logLevel: 'silent' });",
      'const address = await relay.start();',
      'await relay.stop();',
      'console.log(JSON.stringify({ kind: typeof createRelayServer, port: address.port, version: VERSION, resolved }));',
    ])) as { kind: string; port: number; version: string; resolved: string };
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(result.kind).toBe('function');
    expect(result.port).toBeGreaterThan(0);
    expect(result.version).toBe(pkg.version);
    expect(fileURLToPath(result.resolved)).toBe(
      join(project, 'node_modules', 'pairing-relay', 'dist', 'index.js'),
    );
  });

  it("require('pairing-relay') from CommonJS loads both entries (Node 20.19+'s require of ESM)", async () => {
    const result = await runInProject('check.cjs', [
      "const { createRelayServer } = require('pairing-relay');",
      "const worker = require('pairing-relay/cloudflare');",
      'console.log(JSON.stringify({ kind: typeof createRelayServer, worker: Object.keys(worker) }));',
    ]);
    expect(result).toMatchObject({
      kind: 'function',
      // require(esm) may add __esModule beside the module's own exports.
      worker: expect.arrayContaining(['BudgetObject', 'RelayObject', 'default']),
    });
  });
});

describe('npm pack from a fresh clone', { timeout: SLOW }, () => {
  let tmp = '';
  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('builds first (prepack): the tarball holds the bin and the types', async () => {
    // A copy of what git tracks, so no dist/ (the work tree's is built): only
    // prepack can put the bin and the types into this tarball.
    tmp = await mkdtemp(join(tmpdir(), 'pairing-relay-clone-'));
    const clone = join(tmp, 'clone');
    const tracked = (await run('git', ['ls-files', '-z'], { cwd: ROOT })).stdout
      .split('\0')
      .filter((f) => f !== '' && !f.startsWith('dist/'));
    expect(tracked).toContain('package.json');
    for (const file of tracked) {
      await mkdir(dirname(join(clone, file)), { recursive: true });
      // A file deleted in the work tree but not yet from the index is not the clone's.
      await copyFile(join(ROOT, file), join(clone, file)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await symlink(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], {
      cwd: clone,
      env: childEnv(),
    });
    const [info] = JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string }> }>;
    const files = (info?.files ?? []).map((f) => f.path);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      types: string;
      exports: Record<string, { types?: string }>;
    };
    const strip = (path: string): string => path.replace(/^\.\//, '');
    for (const bin of Object.values(pkg.bin)) expect(files).toContain(strip(bin));
    expect(files).toContain(strip(pkg.types));
    for (const entry of Object.values(pkg.exports)) {
      if (typeof entry === 'object' && entry.types !== undefined) {
        expect(files).toContain(strip(entry.types));
      }
    }
  });
});

describe('under Bun', { timeout: 60_000 }, () => {
  it('bun dist/cli.js: full pairing, /health, exit 0 on SIGTERM', async () => {
    const relay = startRelayProcess(
      BUN,
      [join(ROOT, 'dist', 'cli.js'), '--port', '0', '--host', '127.0.0.1'],
      ROOT,
    );
    const { url, port } = await relay.listening;
    const healthUrl = `http://127.0.0.1:${port}/health`;
    const health = await fetch(healthUrl);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', sessions: 0 });

    const target = await wsConnect(url);
    target.send({ type: 'listen', otc: '135790' });
    expect(await target.next(10_000)).toEqual({ type: 'ack', message: 'session_open' });
    const controller = await wsConnect(url);
    controller.send({ type: 'connect', otc: '135790' });
    expect(await target.next(10_000)).toEqual({ type: 'peer_found' });
    expect(await controller.next(10_000)).toEqual({ type: 'peer_found' });
    expect(await (await fetch(healthUrl)).json()).toMatchObject({ sessions: 1, connections: 2 });

    target.send({ type: 'data', payload: 'target to controller' });
    expect(await controller.next(10_000)).toEqual({
      type: 'data',
      payload: 'target to controller',
    });
    controller.send({ type: 'data', payload: 'controller to target' });
    expect(await target.next(10_000)).toEqual({ type: 'data', payload: 'controller to target' });
    target.send({ type: 'done' });
    expect(await controller.next(10_000)).toEqual({ type: 'done' });

    relay.child.kill('SIGTERM');
    expect(await relay.exited).toEqual({ code: 0, signal: null });
  });
  it('bun dist/cli.js: errors, limits and HTTP answers match Node', async () => {
    const relay = startRelayProcess(
      BUN,
      [join(ROOT, 'dist', 'cli.js'), '--port', '0', '--host', '127.0.0.1'],
      ROOT,
    );
    relay.child.stdout?.resume();
    const { url, port } = await relay.listening;
    const http = (path: string, method = 'GET'): Promise<Response> =>
      fetch(`http://127.0.0.1:${port}${path}`, { method });
    expect((await http('/ready')).status).toBe(200);
    expect((await http('/nope')).status).toBe(404);
    expect((await http('/health', 'POST')).status).toBe(405);
    expect(await upgradeStatus(url.replace('/ws', '/other'))).toBe(404);

    const client = await wsConnect(url);
    const cases: Array<[unknown, unknown]> = [
      ['null', { type: 'error', code: 'invalid_message' }],
      ['[]', { type: 'error', code: 'invalid_message' }],
      ['{"type":"data","payload":{"a":1}}', { type: 'error', code: 'invalid_message' }],
      [{ type: 'shell' }, { type: 'error', code: 'unknown_type' }],
      [
        { type: 'listen', otc: '12345' },
        { type: 'error', code: 'invalid_otc' },
      ],
      [
        { type: 'connect', otc: '000001' },
        { type: 'error', code: 'otc_not_found' },
      ],
      [{ type: 'bootstrap_watch' }, { type: 'error', code: 'missing_jti' }],
      [
        { type: 'bootstrap_watch', jti: 'j'.repeat(129) },
        { type: 'error', code: 'invalid_jti' },
      ],
    ];
    for (const [frame, reply] of cases) {
      client.send(frame);
      expect(await client.next(10_000)).toEqual(reply);
    }
    // A frame over 64 KiB closes the socket with 1009.
    client.send({ type: 'data', payload: 'x'.repeat(70_000) });
    expect((await client.closed).code).toBe(1009);

    const { target, controller } = await pair(url, '246802');
    target.send(`{"type":"data","payload":"${'k'.repeat(200)}"}`);
    expect(await controller.next(10_000)).toEqual({ type: 'data', payload: 'k'.repeat(200) });
    controller.close();
    expect(await target.next(10_000)).toEqual({ type: 'error', code: 'peer_disconnected' });
    relay.child.kill('SIGTERM');
    expect(await relay.exited).toEqual({ code: 0, signal: null });
  });
});
