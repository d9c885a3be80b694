// Transport-independent: what only the edge has, checked once against the Worker under miniflare itself (deploy/cloudflare/wrangler.toml, the front of scripts/edge-server.mjs, a Durable Object hibernating mid-session, npm run edge as a process); the protocol, limits and bootstrap run on it in the shared suite (npm run test:edge).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { startEdge, WRANGLER_TOML, type Edge } from '../scripts/edge-server.mjs';
import { killChildren, relayChildEnv, track } from './helpers/process.js';
import { asClient, cleanup, delay, pair, upgradeStatus, wsConnect } from './helpers/relay.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const edges = new Set<Edge>();

afterEach(async () => {
  await cleanup();
  await Promise.all([...edges].map((e) => e.stop()));
  edges.clear();
  killChildren();
});

async function edge(vars: Record<string, string> = {}): Promise<Edge> {
  const started = await startEdge({ port: 0, vars: { RELAY_EDGE_USAGE: '1', ...vars } });
  edges.add(started);
  return started;
}

type Usage = Record<'objectRequests' | 'objectMessages' | 'alarms' | 'objectStarts', number>;

async function usageOf(e: Edge): Promise<Usage> {
  return (await (await fetch(`http://127.0.0.1:${e.port}/usage`)).json()) as Usage;
}

interface Toml {
  main: string;
  compatibility_date: string;
  compatibility_flags: string[];
  durable_objects: { bindings: Array<{ name: string; class_name: string }> };
  migrations: Array<{ tag: string; new_sqlite_classes?: string[] }>;
  vars?: Record<string, string>;
}

describe('deploy/cloudflare/wrangler.toml', () => {
  const toml = parse(readFileSync(WRANGLER_TOML, 'utf8')) as unknown as Toml;

  it('binds RELAY and BUDGETS to classes the module exports, each in a SQLite migration', async () => {
    // Built by npm run build (npm test builds first); a path, so tsc does not need it to exist.
    const built = pathToFileURL(`${ROOT}dist/cloudflare.js`).href;
    const module = (await import(built)) as Record<string, unknown>;
    const bindings = Object.fromEntries(
      toml.durable_objects.bindings.map((b) => [b.name, b.class_name]),
    );
    expect(bindings).toEqual({ RELAY: 'RelayObject', BUDGETS: 'BudgetObject' });
    for (const name of Object.values(bindings)) expect(typeof module[name], name).toBe('function');
    expect(typeof (module['default'] as { fetch?: unknown }).fetch).toBe('function');
    const migrated = toml.migrations.flatMap((m) => m.new_sqlite_classes ?? []);
    expect(migrated.sort()).toEqual(Object.values(bindings).sort());
    expect(new URL(toml.main, `file://${WRANGLER_TOML}`).pathname).toBe(
      `${ROOT}dist/cloudflare.js`,
    );
  });

  it("runs under the pinned miniflare: nodejs_compat, a date no later than its workerd's", () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(pkg.devDependencies['miniflare']).toBe('4.20260426.0');
    const workerd = JSON.parse(
      readFileSync(`${ROOT}node_modules/workerd/package.json`, 'utf8'),
    ) as { version: string };
    // workerd 1.YYYYMMDD.n supports compatibility dates up to YYYY-MM-DD.
    const supported = (workerd.version.split('.')[1] ?? '').replace(
      /^(\d{4})(\d{2})(\d{2})$/,
      '$1-$2-$3',
    );
    expect(toml.compatibility_date <= supported).toBe(true);
    expect(toml.compatibility_flags).toContain('nodejs_compat');
    // Access tokens are a secret (wrangler secret put), never a plain var in the file.
    expect(Object.keys(toml.vars ?? {})).not.toContain('RELAY_ACCESS_TOKENS');
  });
});

describe('the Worker under miniflare', () => {
  it(
    'an 11 s pause mid-session (the objects hibernate): the pairing completes, the TTL still fires',
    { timeout: 40_000 },
    async () => {
      const e = await edge({ RELAY_SESSION_TTL_MS: '20000', RELAY_PAIRED_TTL_MS: '12000' });
      // B is paired before the pause; its paired TTL (12 s) comes due after it, from an alarm.
      const b = await pair(e.url, '222222');
      // A waits for its controller, as a person comparing codes does.
      const target = await wsConnect(e.url, {}, asClient(2));
      target.send({ type: 'listen', otc: '111111' });
      expect(await target.next()).toEqual({ type: 'ack', message: 'session_open' });
      const before = await usageOf(e);
      // miniflare evicts an object that has had no event for ~10 s.
      await delay(11_000);
      const controller = await wsConnect(e.url, {}, asClient(3));
      controller.send({ type: 'connect', otc: '111111' });
      expect(await controller.next()).toEqual({ type: 'peer_found' });
      expect(await target.next()).toEqual({ type: 'peer_found' });
      target.send({ type: 'data', payload: 'after the pause' });
      expect(await controller.next()).toEqual({ type: 'data', payload: 'after the pause' });
      expect(await b.target.next(3_000)).toEqual({ type: 'error', code: 'otc_expired' });
      expect(await b.controller.next()).toEqual({ type: 'error', code: 'otc_expired' });
      expect((await b.target.closed).code).toBe(1000);
      const after = await usageOf(e);
      // Rebuilt from their attachments: A's object to pair, B's for its alarm.
      expect(after.objectStarts - before.objectStarts).toBeGreaterThanOrEqual(2);
      expect(after.alarms - before.alarms).toBe(1);
    },
  );

  it('guesses from an address over its budget are refused in the Worker: no object started for each', async () => {
    const e = await edge({ RELAY_FAILED_ATTEMPTS_PER_IP: '1' });
    const guesser = await wsConnect(e.url, {}, asClient(9));
    guesser.send({ type: 'connect', otc: '444400' });
    expect(await guesser.next()).toMatchObject({ code: 'otc_not_found' });
    guesser.send({ type: 'connect', otc: '444401' });
    expect(await guesser.next()).toMatchObject({ code: 'rate_limited' });
    const before = await usageOf(e);
    for (let i = 2; i < 22; i++) {
      guesser.send({ type: 'connect', otc: String(444400 + i) });
      expect(await guesser.next()).toMatchObject({ code: 'rate_limited' });
    }
    // A new socket from the same address too.
    const again = await wsConnect(e.url, {}, asClient(9));
    again.send({ type: 'listen', otc: '444499' });
    expect(await again.next()).toMatchObject({ code: 'rate_limited' });
    const after = await usageOf(e);
    expect(after.objectStarts - before.objectStarts).toBe(0);
    expect(after.objectRequests - before.objectRequests).toBe(0);
  });

  it('the front overwrites a CF-Connecting-IP the client wrote: forging one buys no new budget', async () => {
    const e = await edge({ RELAY_FAILED_ATTEMPTS_PER_IP: '1' });
    const codes: unknown[] = [];
    for (const forged of ['203.0.113.1', '203.0.113.2']) {
      const c = await wsConnect(e.url, { 'cf-connecting-ip': forged }, asClient(7));
      c.send({ type: 'connect', otc: '333333' });
      codes.push((await c.next())['code']);
    }
    expect(codes).toEqual(['otc_not_found', 'rate_limited']);
    // Another address has a budget of its own.
    const other = await wsConnect(e.url, {}, asClient(8));
    other.send({ type: 'connect', otc: '333333' });
    expect(await other.next()).toMatchObject({ code: 'otc_not_found' });
  });

  it('keys IPv6 clients by their /64, from CF-Connecting-IP as Cloudflare sets it', async () => {
    const e = await edge();
    for (const ip of ['2001:db8:a:b::1', '2001:db8:a:b:c:d:e:f']) {
      const r = await e.miniflare.dispatchFetch('http://relay/health', {
        headers: { 'cf-connecting-ip': ip, 'x-relay-client': '?' },
      });
      expect(r.headers.get('x-relay-client')).toBe(
        'key=2001:db8:a:b::/64; from=socket; forwarded=0',
      );
      await r.arrayBuffer();
    }
  });

  it('/health keeps the server fields, and says it runs on workerd', async () => {
    const e = await edge();
    await pair(e.url, '444444');
    const health = await (await fetch(`http://127.0.0.1:${e.port}/health`)).json();
    expect(health).toEqual({
      status: 'ok',
      sessions: 1,
      connections: 2,
      version: JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version,
      runtime: 'workerd',
    });
  });

  it('access tokens from the RELAY_ACCESS_TOKENS binding (a secret when deployed)', async () => {
    const token = 'edge-token-7d2c41aa9f';
    const e = await edge({ RELAY_ACCESS_TOKENS: token });
    expect(await upgradeStatus(e.url)).toBe(401);
    expect(await upgradeStatus(`${e.url}?token=${token}`)).toBe(101);
    expect(await upgradeStatus(e.url, { authorization: `Bearer ${token}` })).toBe(101);
  });
});

describe('npm run edge', () => {
  it(
    'prints where it listens, serves /health, and exits 0 on SIGTERM',
    { timeout: 30_000 },
    async () => {
      const child = track(
        spawn(process.execPath, ['scripts/edge.mjs'], {
          cwd: ROOT,
          env: relayChildEnv({ PORT: '0', HOST: '127.0.0.1' }),
          stdio: ['ignore', 'pipe', 'inherit'],
        }),
      );
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve),
      );
      const url = /listening on (ws:\/\/127\.0\.0\.1:(\d+)\/ws)$/.exec(line);
      expect(url, line).not.toBeNull();
      const health = await fetch(`http://127.0.0.1:${url?.[2]}/health`);
      expect(health.status).toBe(200);
      await pair(url?.[1] ?? '', '555555');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    },
  );

  it('refuses a PORT that is not a port, naming it', async () => {
    const child = track(
      spawn(process.execPath, ['scripts/edge.mjs'], {
        cwd: ROOT,
        env: relayChildEnv({ PORT: 'eighty' }),
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/PORT must be a port number/);
  });
});
