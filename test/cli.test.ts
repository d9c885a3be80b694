import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SETTINGS } from '../src/config/options.js';
import { cleanup, delay, eventually, pair, upgradeStatus, wsConnect } from './helpers/relay.js';
import { killChildren, relayChildEnv, track, type Exit } from './helpers/process.js';
import { transport } from './helpers/transports.js';

// Real processes running the built CLI (`npm test` builds before vitest runs) on the
// transport's runtime.
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

type LogLine = Record<string, unknown>;
interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The first JSON log line on stdout with this `msg` (already seen or still to come). */
  logLine(msg: string, timeoutMs?: number): Promise<LogLine>;
  /** Waits for the "listening" line and reads the bound port from its URL. */
  listening(): Promise<{ port: number; url: string; httpUrl: (path: string) => string }>;
  exited: Promise<Exit>;
}

afterEach(async () => {
  await cleanup();
  killChildren();
});

function startCli(args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(transport.cli(), [CLI, ...args], {
    cwd: ROOT,
    env: relayChildEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  let err = '';
  let partial = '';
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let exit: Exit | null = null;
  // 'close' rather than 'exit': it comes once stdout and stderr are fully read too.
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
      for (const wake of waiters) wake();
    });
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr.on('data', (chunk: string) => {
    err += chunk;
  });

  const logLine = (msg: string, timeoutMs = 15_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.find((l) => l['msg'] === msg);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (exit !== null) {
          done();
          reject(
            new Error(`exited (${JSON.stringify(exit)}) before logging "${msg}"; stderr: ${err}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no "${msg}" log line within ${timeoutMs} ms; stderr: ${err}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logLine,
    async listening() {
      const line = await logLine('listening');
      const url = String(line['url']);
      const port = Number(new URL(url).port);
      return { port, url, httpUrl: (path: string) => `http://127.0.0.1:${port}${path}` };
    },
    exited,
  };
}

/** Runs the CLI to completion. */
async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<Exit & { stdout: string; stderr: string }> {
  const cli = startCli(args, env);
  const exit = await cli.exited;
  return { ...exit, stdout: cli.stdout(), stderr: cli.stderr() };
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

describe.skipIf(!transport.has('cli'))('CLI: help, version, config errors (needs a CLI)', () => {
  it('--help exits 0 and lists every flag and environment variable', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const setting of SETTINGS) {
      // A secret has no flag: its file variable stands in its place.
      expect(result.stdout).toContain(setting.secret ? (setting.fileEnv as string) : setting.flag);
      expect(result.stdout).toContain(setting.env);
    }
    expect(result.stdout).toContain('--help');
    expect(result.stdout).toContain('--version');
    expect(result.stdout).toContain(VERSION);
  });

  it('--version and -v print the package.json version', async () => {
    for (const flag of ['--version', '-v']) {
      const result = await runCli([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe(VERSION);
    }
  });

  const bad: Array<[string, string[], Record<string, string>, string]> = [
    ['--port abc', ['--port', 'abc'], {}, '--port'],
    ['--port 70000', ['--port', '70000'], {}, '--port'],
    ['PORT=abc', [], { PORT: 'abc' }, 'PORT'],
    ['AMESH_TRUST_PROXY=maybe', [], { AMESH_TRUST_PROXY: 'maybe' }, 'AMESH_TRUST_PROXY'],
    ['LOG_LEVEL=loud', [], { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    ['--session-ttl-ms 0', ['--session-ttl-ms', '0'], {}, '--session-ttl-ms'],
    [
      'RELAY_ALLOW_LONG_CODES=perhaps',
      [],
      { RELAY_ALLOW_LONG_CODES: 'perhaps' },
      'RELAY_ALLOW_LONG_CODES',
    ],
    ['unknown flag --nope', ['--nope'], {}, '--nope'],
    // Caught by createRelayServer, not the parser: the CLI still names flag and variable.
    [
      'REDIS_URL without a secret',
      ['--port', '0', '--host', '127.0.0.1'],
      { REDIS_URL: 'redis://127.0.0.1:1' },
      'RELAY_REDIS_SECRET (or RELAY_REDIS_SECRET_FILE) is required',
    ],
  ];
  it.each(bad)('%s: exit 2, stderr names the culprit', async (_name, args, env, culprit) => {
    const result = await runCli(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(culprit);
    expect(result.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(result.stdout).not.toContain('"listening"');
  });

  it('an environment variable alone names itself, not the flag', async () => {
    const result = await runCli([], { PORT: 'abc' });
    expect(result.stderr).not.toContain('--port');
  });

  it('a flag wins over its variable', async () => {
    // PORT=1 would bind port 1; an invalid LOG_LEVEL would exit 2.
    const cli = startCli(['--port', '0', '--host', '127.0.0.1', '--log-level', 'info'], {
      PORT: '1',
      LOG_LEVEL: 'loud',
    });
    const { port, httpUrl } = await cli.listening();
    expect(port).toBeGreaterThan(1);
    expect((await fetch(httpUrl('/health'))).status).toBe(200);
  });

  it('a port in use: exit 1 with a hint', async () => {
    const first = startCli(['--port', '0', '--host', '127.0.0.1']);
    const { port } = await first.listening();
    const second = await runCli(['--port', String(port), '--host', '127.0.0.1']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('port in use');
  });
});

describe.skipIf(!transport.has('cli'))('CLI: serving (needs a CLI)', () => {
  it('with a Redis that never answers, the banner, the listening line and /health 200 come at once', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const redisPort = (silent.address() as AddressInfo).port;
      const cli = startCli(['--port', '0', '--host', '127.0.0.1'], {
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        RELAY_REDIS_SECRET: 'a-secret-of-16-chars',
        // A start that waited for Redis would not listen within this test at all.
        RELAY_REDIS_TIMEOUT_MS: '60000',
      });
      const { httpUrl } = await cli.listening();
      expect((await fetch(httpUrl('/health'))).status).toBe(200);
      await eventually(() =>
        /listening\n {2}pairing: ws:\/\/127\.0\.0\.1:\d+\/ws/.test(cli.stderr()),
      );
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('starts, prints the URL, answers /health and /ready, pairs', async () => {
    const cli = startCli(['--port', '0', '--host', '127.0.0.1']);
    const { port, url, httpUrl } = await cli.listening();
    expect(url).toBe(`ws://127.0.0.1:${port}/ws`);
    // The listening line and the banner say which runtime serves.
    const runtime = String((await cli.logLine('listening'))['runtime']);
    expect(runtime).toMatch(/^(node|bun) \d+\.\d+/);
    await expect.poll(() => cli.stderr(), { timeout: 10_000 }).toContain(`(${runtime}) listening`);
    // The human lines on stderr come right after the log line.
    await expect.poll(() => cli.stderr(), { timeout: 10_000 }).toContain(`pairing: ${url}`);
    expect(cli.stderr()).toContain(`http://127.0.0.1:${port}/health`);

    const health = await getJson(httpUrl('/health'));
    expect(health).toMatchObject({
      status: 200,
      body: { status: 'ok', sessions: 0, version: VERSION, runtime },
    });
    expect(await getJson(httpUrl('/ready'))).toEqual({ status: 200, body: { status: 'ready' } });

    // The protocol step by step: listen, ack, connect, peer_found on both sides.
    const target = await wsConnect(url);
    target.send({ type: 'listen', otc: '246810' });
    expect(await target.next()).toEqual({ type: 'ack', message: 'session_open' });
    const controller = await wsConnect(url);
    controller.send({ type: 'connect', otc: '246810' });
    expect(await target.next()).toEqual({ type: 'peer_found' });
    expect(await controller.next()).toEqual({ type: 'peer_found' });
    expect(await getJson(httpUrl('/health'))).toMatchObject({ body: { sessions: 1 } });
    target.send({ type: 'data', payload: 'hello controller' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'hello controller' });
    controller.send({ type: 'data', payload: 'hello target' });
    expect(await target.next()).toEqual({ type: 'data', payload: 'hello target' });
    controller.send({ type: 'done' });
    expect(await target.next()).toEqual({ type: 'done' });
    await expect
      .poll(async () => ((await getJson(httpUrl('/health'))).body as { sessions: number }).sessions)
      .toBe(0);
  });

  it('is configured by the environment alone (PORT=0 HOST=127.0.0.1, as under pnpm/npx)', async () => {
    const cli = startCli([], { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    const { port, url, httpUrl } = await cli.listening();
    expect(port).toBeGreaterThan(0);
    expect(url).toBe(`ws://127.0.0.1:${port}/ws`);
    expect(await getJson(httpUrl('/health'))).toMatchObject({ status: 200, body: { sessions: 0 } });
    const { target, controller } = await pair(url, '654321');
    target.send({ type: 'data', payload: 'x' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'x' });
  });
});

describe.skipIf(!transport.has('signals'))('CLI: signals (needs a CLI that drains)', () => {
  it('SIGTERM drains: /ready 503 and upgrades refused while the session lives, exit 0 once it is done', async () => {
    const cli = startCli(['--port', '0', '--host', '127.0.0.1'], { RELAY_DRAIN_MS: '60000' });
    const { url, httpUrl } = await cli.listening();
    const { target, controller } = await pair(url);

    cli.child.kill('SIGTERM');
    expect(await cli.logLine('draining')).toMatchObject({ sessions: 1, drainMs: 60_000 });
    expect(await getJson(httpUrl('/ready'))).toEqual({
      status: 503,
      body: { status: 'draining' },
    });
    expect(await getJson(httpUrl('/health'))).toMatchObject({ status: 200, body: { sessions: 1 } });
    expect(await upgradeStatus(url)).toBe(503);

    // The live session still works while draining.
    target.send({ type: 'data', payload: 'still here' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'still here' });
    controller.send({ type: 'data', payload: 'me too' });
    expect(await target.next()).toEqual({ type: 'data', payload: 'me too' });

    const doneAt = Date.now();
    target.send({ type: 'done' });
    expect(await controller.next()).toEqual({ type: 'done' });
    target.close();
    controller.close();
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    // Well before the 60 s drain window.
    expect(Date.now() - doneAt).toBeLessThan(10_000);
    expect(await cli.logLine('drain window over')).toMatchObject({ finished: true });
  });

  it('SIGTERM with a session left open: going_away and close 1001 after RELAY_DRAIN_MS, exit 0', async () => {
    const cli = startCli(['--port', '0', '--host', '127.0.0.1'], { RELAY_DRAIN_MS: '300' });
    const { url } = await cli.listening();
    const { target, controller } = await pair(url);

    cli.child.kill('SIGTERM');
    for (const peer of [target, controller]) {
      expect(await peer.next(15_000)).toEqual({ type: 'error', code: 'going_away' });
      expect((await peer.closed).code).toBe(1001);
    }
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(await cli.logLine('drain window over')).toMatchObject({
      finished: false,
      sessionsLeft: 1,
    });
  });

  it('a second SIGTERM exits at once with 143, even with a session open', async () => {
    const cli = startCli(['--port', '0', '--host', '127.0.0.1'], { RELAY_DRAIN_MS: '60000' });
    const { url } = await cli.listening();
    await pair(url);

    cli.child.kill('SIGTERM');
    await cli.logLine('draining');
    // Past the window in which a repeat counts as the same signal (src/cli.ts).
    await delay(1_100);
    const secondAt = Date.now();
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 143, signal: null });
    expect(Date.now() - secondAt).toBeLessThan(10_000);
  });

  it('Ctrl-C delivered twice at once (the terminal, then npm or bunx forwarding it) still drains', async () => {
    const cli = startCli(['--port', '0', '--host', '127.0.0.1'], { RELAY_DRAIN_MS: '300' });
    const { url } = await cli.listening();
    const { target, controller } = await pair(url);

    cli.child.kill('SIGINT');
    // The second comes once the first is being handled, as npm's does.
    await cli.logLine('draining');
    cli.child.kill('SIGINT');
    for (const peer of [target, controller]) {
      expect(await peer.next(15_000)).toEqual({ type: 'error', code: 'going_away' });
      expect((await peer.closed).code).toBe(1001);
    }
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(await cli.logLine('drain window over')).toMatchObject({ sessionsLeft: 1 });
  });

  it('SIGINT drains the same way: idle relay exits 0', async () => {
    const cli = startCli(['--port', '0', '--host', '127.0.0.1'], { RELAY_DRAIN_MS: '60000' });
    await cli.listening();
    cli.child.kill('SIGINT');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(await cli.logLine('stopped')).toBeDefined();
  });
});
