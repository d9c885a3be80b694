import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { transport } from './helpers/transports.js';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import type { RelayOptions } from '../src/index.js';
import { startHttpProxy, type HttpProxy } from './helpers/http-proxy.js';
import { cleanup, refusingUrl, startRelay } from './helpers/relay.js';
import { killChildren, relayChildEnv, runToExit, type Ran } from './helpers/process.js';

// `pairing-relay check` as users run it: the built CLI in a real process
// (always Node: it is a client), against a relay on 127.0.0.1 hosted by the
// runtime under test, directly or behind a small proxy of the test's own.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const proxies = new Set<HttpProxy>();
const closers = new Set<() => Promise<void>>();

afterEach(async () => {
  await Promise.all([...proxies].map((p) => p.close()));
  proxies.clear();
  await Promise.all([...closers].map((close) => close()));
  closers.clear();
  await cleanup();
  killChildren();
});

interface Step {
  step: string;
  status: 'pass' | 'fail' | 'skip';
  summary: string;
  hint?: string;
}
function check(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runToExit(process.execPath, [CLI, 'check', ...args], relayChildEnv(env));
}

/** Runs check twice: the text a person reads, and --json to assert on each step. */
async function checkBoth(
  url: string,
  extra: string[] = [],
): Promise<{ text: Ran; steps: Map<string, Step>; code: number | null }> {
  const text = await check([url, ...extra]);
  const json = await check([url, '--json', ...extra]);
  expect(json.code).toBe(text.code);
  const report = JSON.parse(json.stdout) as { ok: boolean; steps: Step[] };
  expect(report.ok).toBe(json.code === 0);
  return { text, steps: new Map(report.steps.map((s) => [s.step, s])), code: text.code };
}

async function proxied(
  options: RelayOptions,
  mode: 'pass' | 'drop-upgrade' | 'idle-cut',
  extra: { idleMs?: number; forwardedFor?: boolean } = {},
): Promise<HttpProxy> {
  const { port } = await startRelay(options);
  const proxy = await startHttpProxy(port, { mode, forwardedFor: true, ...extra });
  proxies.add(proxy);
  return proxy;
}

// Each test runs the check CLI (a Node process) two to four times: on a loaded machine each
// start costs seconds, so the budget is per test, not per step.
describe('pairing-relay check', { timeout: 60_000 }, () => {
  it('passes every step against a healthy relay, and prints one plain line per step', async () => {
    const { url } = await startRelay();
    const { text, steps, code } = await checkBoth(url, ['--hold', '1']);
    expect(code).toBe(0);
    expect(text.stdout).toMatch(/^pairing-relay check ws:\/\/127\.0\.0\.1:\d+\/ws\n/);
    expect(text.stdout).toMatch(/all 8 checks passed\n$/);
    for (const name of [
      'dns',
      'tcp',
      'health',
      'ready',
      'upgrade',
      'pairing',
      'hold',
      'client-key',
    ]) {
      expect(steps.get(name)?.status, name).toBe('pass');
    }
    expect(steps.get('tls')?.status).toBe('skip');
    expect(steps.get('pairing')?.summary).toMatch(/listen, connect, data both ways, done/);
    expect(steps.get('client-key')?.summary).toMatch(/127\.0\.0\.1, from the connection itself/);
  });

  it('a wrong path: the upgrade gets 404, explained as the wrong path', async () => {
    const { url } = await startRelay();
    const { text, steps, code } = await checkBoth(url.replace('/ws', '/pair'));
    expect(code).toBe(1);
    expect(steps.get('upgrade')?.status).toBe('fail');
    expect(steps.get('upgrade')?.summary).toMatch(/^404 on \/pair/);
    expect(steps.get('upgrade')?.hint).toMatch(/wrong path: the relay serves \/ws/);
    expect(steps.get('pairing')?.status).toBe('skip');
    expect(text.stdout).toMatch(/FAIL {2}upgrade/);
  });

  it('a proxy that drops Upgrade: 426 from the relay, blamed on the proxy', async () => {
    const proxy = await proxied({ trustProxy: 1 }, 'drop-upgrade');
    const { steps, code } = await checkBoth(proxy.wsUrl());
    expect(code).toBe(1);
    expect(steps.get('health')?.status).toBe('pass');
    expect(steps.get('upgrade')?.summary).toMatch(/^426 on \/ws: the relay got a plain GET/);
    expect(steps.get('upgrade')?.hint).toMatch(/drops the Upgrade\/Connection headers/);
  });

  it('a proxy that cuts idle WebSockets: the hold says when the session was cut', async () => {
    const proxy = await proxied({ trustProxy: 1 }, 'idle-cut', { idleMs: 1_500 });
    const { steps, code } = await checkBoth(proxy.wsUrl(), ['--hold', '4']);
    expect(code).toBe(1);
    expect(steps.get('pairing')?.status).toBe('pass');
    const hold = steps.get('hold');
    expect(hold?.status).toBe('fail');
    expect(hold?.summary).toMatch(/a quiet paired session was cut after [1-3]\.\d s/);
    expect(hold?.hint).toMatch(/cuts idle WebSockets before 4 s/);
  });

  it("a hold past the relay's own paired TTL is the relay's doing, not a cut", async () => {
    // Long enough for pairing and data both ways on a loaded machine, well under the hold.
    const { url } = await startRelay({ pairedTtlMs: 1_500 });
    const { steps, code } = await checkBoth(url, ['--hold', '3']);
    expect(code).toBe(0);
    expect(steps.get('hold')?.summary).toMatch(/until the relay's own paired TTL ended it/);
  });

  it('behind a proxy without trust: all clients share one bucket', async () => {
    const proxy = await proxied({}, 'pass');
    const { text, steps, code } = await checkBoth(proxy.wsUrl());
    expect(code).toBe(1);
    expect(steps.get('pairing')?.status).toBe('pass');
    const verdict = steps.get('client-key');
    expect(verdict?.status).toBe('fail');
    expect(verdict?.summary).toMatch(
      /^all clients share one bucket: a proxy in front adds X-Forwarded-For/,
    );
    expect(verdict?.hint).toMatch(/set AMESH_TRUST_PROXY=1/);
    expect(text.stdout).toMatch(/1 of 7 checks failed/);
  });

  it.skipIf(!transport.has('forwardedFor'))(
    'behind a proxy with trust: clients told apart, everything passes, six connections at most (needs X-Forwarded-For)',
    async () => {
      const proxy = await proxied({ trustProxy: 1 }, 'pass');
      const ran = await check([proxy.wsUrl(), '--json']);
      expect(ran.code).toBe(0);
      const steps = (JSON.parse(ran.stdout) as { steps: Step[] }).steps;
      expect(steps.find((s) => s.step === 'client-key')?.summary).toMatch(
        /keys this client on 127\.0\.0\.1, from X-Forwarded-For \(1 entry arrived\); a forged X-Forwarded-For did not change it/,
      );
      expect(proxy.connections()).toBeLessThanOrEqual(6);
    },
  );

  it.skipIf(!transport.has('forwardedFor'))(
    'trust on with nothing in front: the relay believes a forged X-Forwarded-For (needs X-Forwarded-For)',
    async () => {
      const { url } = await startRelay({ trustProxy: 1 });
      const { steps, code } = await checkBoth(url);
      expect(code).toBe(1);
      expect(steps.get('client-key')?.summary).toMatch(
        /keyed a request on the X-Forwarded-For this check wrote itself \(198\.51\.100\.77\)/,
      );
    },
  );

  it('a gated relay: 401 without a token, all passes with --token, the token never printed', async () => {
    const token = 'check-token-0123456789abcdef';
    const { url } = await startRelay({ accessTokens: [token] });
    const without = await checkBoth(url);
    expect(without.code).toBe(1);
    expect(without.steps.get('upgrade')?.summary).toMatch(
      /^401 on \/ws: the relay requires an access token/,
    );
    const withToken = await check([url, '--token', token]);
    expect(withToken.code).toBe(0);
    const inUrl = await check([`${url}?token=${token}`, '--json']);
    expect(inUrl.code).toBe(0);
    expect(withToken.stdout + inUrl.stdout).not.toContain(token);
  });

  it('refuses bad input with a usage error (exit 2), never a crash', async () => {
    for (const args of [
      [],
      ['http://example.com/ws'],
      ['not a url'],
      ['ws://h/ws', '--hold', 'x'],
      ['ws://h/ws', '--nope'],
    ]) {
      const ran = await check(args);
      expect(ran.code, args.join(' ')).toBe(2);
      expect(ran.stderr).toMatch(/^pairing-relay check: /);
    }
  });

  it('an address nothing listens on fails at tcp and skips the rest', async () => {
    const { url, close } = await refusingUrl();
    closers.add(close);
    const { steps, code } = await checkBoth(url);
    expect(code).toBe(1);
    expect(steps.get('tcp')?.summary).toMatch(/ECONNREFUSED/);
    expect(steps.get('upgrade')?.status).toBe('skip');
  });

  it('wss://: the certificate is judged (untrusted, wrong name), then trusted with days to expiry', async () => {
    const { port } = await startRelay();
    const dir = mkdtempSync(join(tmpdir(), 'relay-tls-'));
    // Keys and tokens: removed whether the test passes or fails.
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const cert = (name: string, san: string): { key: Buffer; cert: Buffer; file: string } => {
      const [key, file] = [join(dir, `${name}.key`), join(dir, `${name}.pem`)];
      const made = spawnSync('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '30',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=${san}`,
        '-keyout',
        key,
        '-out',
        file,
      ]);
      expect(made.status, made.stderr?.toString()).toBe(0);
      return { key: readFileSync(key), cert: readFileSync(file), file };
    };
    // A TLS-terminating TCP proxy in front of the relay (like a load balancer).
    const terminate = async (pair: { key: Buffer; cert: Buffer }): Promise<number> => {
      const open = new Set<Socket>();
      const server = createTlsServer({ key: pair.key, cert: pair.cert }, (tls) => {
        const upstream = connect(port, '127.0.0.1');
        for (const s of [tls, upstream]) {
          open.add(s);
          s.on('error', () => s.destroy());
          s.once('close', () => open.delete(s));
        }
        tls.pipe(upstream).pipe(tls);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.add(async () => {
        for (const s of open) s.destroy();
        await new Promise((resolve) => server.close(resolve));
      });
      return (server.address() as { port: number }).port;
    };
    const right = cert('relay-ip', 'IP:127.0.0.1');
    const wrong = cert('elsewhere', 'DNS:other.example');
    const rightUrl = `wss://127.0.0.1:${await terminate(right)}/ws`;
    const wrongUrl = `wss://127.0.0.1:${await terminate(wrong)}/ws`;

    const untrusted = await checkBoth(rightUrl);
    expect(untrusted.code).toBe(1);
    expect(untrusted.steps.get('tls')?.summary).toMatch(
      /^certificate not accepted for 127\.0\.0\.1 \(DEPTH_ZERO_SELF_SIGNED_CERT\)/,
    );
    expect(untrusted.steps.get('upgrade')?.status).toBe('skip');

    const misnamed = await check([wrongUrl, '--json'], { NODE_EXTRA_CA_CERTS: wrong.file });
    const tls = (JSON.parse(misnamed.stdout) as { steps: Step[] }).steps.find(
      (s) => s.step === 'tls',
    );
    expect(tls?.summary).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(tls?.hint).toMatch(/does not name 127\.0\.0\.1/);

    const trusted = await check([rightUrl, '--json'], { NODE_EXTRA_CA_CERTS: right.file });
    expect(trusted.code).toBe(0);
    const steps = (JSON.parse(trusted.stdout) as { steps: Step[] }).steps;
    expect(steps.find((s) => s.step === 'tls')?.summary).toMatch(
      /^certificate valid for 127\.0\.0\.1, expires in (29|30) days/,
    );
    expect(steps.find((s) => s.step === 'pairing')?.status).toBe('pass');
  });
});
