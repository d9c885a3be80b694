// Transport-independent: the image runs `node dist/cli.js`, whatever the transport.
// The container image's build and run steps, reproduced without a container engine,
// one temporary directory per stage standing in for its WORKDIR: the build stage's
// `npm run build` from only the files it COPYs (its full `npm ci` is the repo's own
// node_modules, linked), the deps stage's `npm ci --omit=dev` for real, the runtime
// stage assembled from its COPYs alone. Then the image's CMD with the image's ENV and
// nothing else on the module path: a pairing through it, the image's HEALTHCHECK
// command, and a SIGTERM during a live session that must end in exit 0. What it
// cannot show: the base image, USER, the read-only root, the image size; those are
// test/container/image.test.ts's, which builds and runs the image under podman.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  all,
  execForm,
  finalStage,
  only,
  parseCopy,
  parseHealthcheck,
  readDockerfile,
  stageEnv,
  stageNamed,
  workdir,
  type Copy,
  type Stage,
} from './helpers/dockerfile.js';
import { cleanup, pair, upgradeStatus } from './helpers/relay.js';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const docker = readDockerfile(join(ROOT, 'Dockerfile.relay'));
const runtime = finalStage(docker);

const dirs: string[] = [];
let relay: ChildProcess | undefined;
afterAll(async () => {
  await cleanup();
  if (relay !== undefined && relay.exitCode === null && relay.signalCode === null) {
    relay.kill('SIGKILL');
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory standing in for a stage's WORKDIR. */
function stageDir(stage: Stage): string {
  const dir = mkdtempSync(join(tmpdir(), `pairing-relay-${stage.name ?? 'stage'}-`));
  dirs.push(dir);
  return dir;
}

/**
 * Carries out one COPY into `into` (the stage's WORKDIR): sources come from the
 * build context (the repo) or from an earlier stage's directory. Docker's rules: a
 * directory source copies its contents into the destination; a file goes into the
 * destination if that is a directory (`./`, `x/`, or several sources), else becomes it.
 */
function applyCopy(copy: Copy, into: string, built: Map<string, string>): void {
  for (const source of copy.sources) {
    let from: string;
    if (copy.from === undefined) {
      from = join(ROOT, source);
    } else {
      const origin = stageNamed(docker, copy.from);
      const relative = posix.relative(workdir(origin), source);
      expect(relative.startsWith('..'), `${source} is outside ${copy.from}'s WORKDIR`).toBe(false);
      from = join(built.get(copy.from)!, relative);
    }
    expect(existsSync(from), `COPY source ${source}`).toBe(true);
    const intoDir =
      copy.dest.endsWith('/') || posix.normalize(copy.dest) === '.' || copy.sources.length > 1;
    const target = statSync(from).isDirectory()
      ? join(into, copy.dest)
      : intoDir
        ? join(into, copy.dest, basename(from))
        : join(into, copy.dest);
    cpSync(from, target, { recursive: true, verbatimSymlinks: true });
  }
}

/** The first stdout JSON line that says "listening" and carries the url. */
function listeningUrl(child: ChildProcess): Promise<URL> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('relay did not report listening')), 15_000);
    child.once('exit', (code) => reject(new Error(`relay exited early with ${code}`)));
    lines.on('line', (line) => {
      if (!line.includes('"listening"') || !line.includes('"url"')) return;
      clearTimeout(timer);
      resolve(new URL((JSON.parse(line) as { url: string }).url));
    });
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Runs a command from the Dockerfile; `node` there is this test's node binary. */
async function runHealthcheck(port: string): Promise<number> {
  const [cmd, ...args] = parseHealthcheck(only(runtime, 'HEALTHCHECK')).command;
  expect(cmd).toBe('node');
  try {
    await run(process.execPath, args, {
      env: { PATH: process.env.PATH ?? '', PORT: port },
      timeout: 10_000,
    });
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

describe('the image, built and run without a container engine', () => {
  it('builds from its COPYs, installs production deps only, pairs, passes its HEALTHCHECK, drains on SIGTERM', async () => {
    const built = new Map<string, string>();
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };

    // build stage: only what it COPYs, its full install (the repo's node_modules,
    // which `npm ci` made), then `npm run build` as the Dockerfile says.
    const build = stageNamed(docker, 'build');
    const buildDir = stageDir(build);
    for (const ins of build.instructions) {
      if (ins.keyword === 'COPY') applyCopy(parseCopy(ins), buildDir, built);
      if (ins.keyword !== 'RUN') continue;
      const argv = ins.args.split(/\s+/);
      if (argv[0] === 'npm' && argv[1] === 'ci') {
        expect(argv).not.toContain('--omit=dev');
        symlinkSync(join(ROOT, 'node_modules'), join(buildDir, 'node_modules'), 'dir');
        continue;
      }
      expect(argv).toEqual(['npm', 'run', 'build']);
      await run('npm', ['run', 'build'], { cwd: buildDir, timeout: 90_000 });
    }
    expect(existsSync(join(buildDir, 'dist', 'cli.js'))).toBe(true);
    built.set('build', buildDir);

    // deps stage: its COPYs, then its `npm ci --omit=dev ...` for real.
    const modules = all(runtime, 'COPY')
      .map(parseCopy)
      .find((c) => c.sources.some((s) => s.endsWith('node_modules')))!;
    const deps = stageNamed(docker, modules.from!);
    const depsDir = stageDir(deps);
    for (const copy of all(deps, 'COPY').map(parseCopy)) applyCopy(copy, depsDir, built);
    const installs = all(deps, 'RUN').map((r) => r.args.split(/\s+/));
    expect(installs).toHaveLength(1);
    const install = installs[0]!;
    expect(install.slice(0, 2)).toEqual(['npm', 'ci']);
    expect(install).toContain('--omit=dev');
    await run('npm', [...install.slice(1), '--prefer-offline'], {
      cwd: depsDir,
      timeout: 90_000,
      env: { ...process.env, NODE_ENV: 'production' },
    });
    built.set(deps.name!, depsDir);

    // runtime stage: nothing but its COPYs.
    const dir = stageDir(runtime);
    for (const copy of all(runtime, 'COPY').map(parseCopy)) applyCopy(copy, dir, built);
    const installed = (name: string): boolean => existsSync(join(dir, 'node_modules', name));
    for (const dep of Object.keys(pkg.dependencies)) {
      expect(installed(dep), `dependency ${dep}`).toBe(true);
    }
    for (const dev of Object.keys(pkg.devDependencies)) {
      expect(installed(dev), `devDependency ${dev} in the image`).toBe(false);
    }
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type).toBe('module');

    // CMD with the image's ENV; PORT and HOST overridden as `docker run -e` would.
    const [cmd, ...args] = execForm(only(runtime, 'CMD').args);
    expect(cmd).toBe('node');
    relay = spawn(process.execPath, args, {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        ...stageEnv(runtime),
        PORT: '0',
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    relay.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await listeningUrl(relay);
    const port = url.port;
    const http = (path: string): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`);

    // A whole pairing: listen, connect, peer_found to both, data both ways.
    const { target, controller } = await pair(url.href, '271828');
    target.send({ type: 'data', payload: 'sealed-box-1' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'sealed-box-1' });
    controller.send({ type: 'data', payload: 'sealed-box-2' });
    expect(await target.next()).toEqual({ type: 'data', payload: 'sealed-box-2' });

    // The image's HEALTHCHECK: healthy against the relay, unhealthy with nothing there.
    expect(await runHealthcheck(port)).toBe(0);
    expect(await runHealthcheck('1')).toBe(1);

    // SIGTERM mid-session: not ready, still alive, no new upgrades, then exit 0
    // once the session ends (well inside the drain window).
    const exit = exited(relay);
    relay.kill('SIGTERM');
    await expect.poll(async () => (await http('/ready')).status).toBe(503);
    expect((await http('/health')).status).toBe(200);
    expect(await upgradeStatus(url.href)).toBe(503);
    target.send({ type: 'done' });
    expect(await controller.next()).toEqual({ type: 'done' });
    const started = Date.now();
    expect(await exit, stderr).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 120_000);
});
