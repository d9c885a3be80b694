import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { startRelayProcess } from './helpers/instances.js';
import { killChildren, relayChildEnv, runToExit, track, type Ran } from './helpers/process.js';
import { cleanup, eventually, upgradeStatus } from './helpers/relay.js';
import { transport } from './helpers/transports.js';

// The CLI's part of issue 11, in real processes: token file + SIGHUP,
// configuration errors, and the log format.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const A = 'file-token-aaaaaaaaaaaa';
const B = 'file-token-bbbbbbbbbbbb';

afterEach(async () => {
  await cleanup();
  killChildren();
});

function run(args: string[], env: Record<string, string>): Promise<Ran> {
  return runToExit(
    transport.cli(),
    [CLI, ...args],
    relayChildEnv({ PORT: '0', HOST: '127.0.0.1', ...env }),
  );
}

describe.skipIf(!transport.has('cli'))('access tokens in the CLI (needs a CLI)', () => {
  it('--access-tokens-file is re-read on SIGHUP: a rotated token works at once, the old one no more', async ({
    skip,
  }) => {
    skip(!transport.has('signals'), 'needs a CLI that re-reads its token file on SIGHUP');
    const dir = mkdtempSync(join(tmpdir(), 'relay-tokens-'));
    // Keys and tokens: removed whether the test passes or fails.
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'tokens');
    writeFileSync(file, `# rotated weekly\n${A}\n\n`);
    const relay = await startRelayProcess({}, ['--access-tokens-file', file]);
    const url = relay.url;
    expect(await upgradeStatus(url, { authorization: `Bearer ${A}` })).toBe(101);
    expect(await upgradeStatus(url, { authorization: `Bearer ${B}` })).toBe(401);

    writeFileSync(file, `${B}\n`);
    relay.child.kill('SIGHUP');
    await eventually(() => relay.logs().includes('access tokens reloaded'), 10_000);
    expect(await upgradeStatus(url, { authorization: `Bearer ${B}` })).toBe(101);
    expect(await upgradeStatus(url, { authorization: `Bearer ${A}` })).toBe(401);

    // A bad file on reload keeps the tokens it had, and says so.
    writeFileSync(file, 'short\n');
    relay.child.kill('SIGHUP');
    await eventually(() => relay.logs().includes('access tokens not reloaded'), 10_000);
    expect(await upgradeStatus(url, { authorization: `Bearer ${B}` })).toBe(101);
    expect(relay.logs()).not.toContain(A);
    expect(relay.logs()).not.toContain(B);
    await relay.kill('SIGTERM');
  });

  it('RELAY_ACCESS_TOKENS gates the upgrade; /health stays open', async () => {
    const relay = await startRelayProcess({ RELAY_ACCESS_TOKENS: `${A}, ${B},` });
    expect(await upgradeStatus(relay.url)).toBe(401);
    expect(await upgradeStatus(`${relay.url}?token=${B}`)).toBe(101);
    expect((await relay.health()).status).toBe(200);
    await relay.kill('SIGTERM');
  });

  it('bad token settings stop the start with exit 2, naming the flag or variable, never the token', async () => {
    const short = await run([], { RELAY_ACCESS_TOKENS: `${A},tiny-secret` });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/RELAY_ACCESS_TOKENS entry 2 is shorter than 16 characters/);
    expect(short.stderr).not.toContain('tiny-secret');
    const missing = await run(['--access-tokens-file', '/nonexistent/tokens'], {});
    expect(missing.code).toBe(2);
    // The flag was given: the message names it, not the variable nobody set.
    expect(missing.stderr).toMatch(/^pairing-relay: --access-tokens-file cannot be used: ENOENT/);
    expect(missing.stderr).not.toContain('RELAY_ACCESS_TOKENS_FILE');
    const byEnv = await run([], { RELAY_ACCESS_TOKENS_FILE: '/nonexistent/tokens' });
    expect(byEnv.stderr).toMatch(/^pairing-relay: RELAY_ACCESS_TOKENS_FILE cannot be used: ENOENT/);
  });
});

describe.skipIf(!transport.has('cli'))('log format (needs a CLI)', () => {
  /** Starts the CLI, waits until stdout matches, stops it; returns stdout. */
  const outputUntil = async (
    command: string,
    args: string[],
    env: Record<string, string>,
    until: RegExp,
  ): Promise<string> => {
    const child = track(
      spawn(command, args, {
        env: relayChildEnv({ PORT: '0', HOST: '127.0.0.1', ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    await eventually(() => until.test(out), 10_000);
    child.kill('SIGTERM');
    return out;
  };

  it('json when stdout is not a terminal (auto), as before', async () => {
    const out = await outputUntil(transport.cli(), [CLI], {}, /listening/);
    expect(out).toMatch(/^\{"level":30,"time":\d+,.*"msg":"listening"\}$/m);
  });

  it('--log-format pretty / RELAY_LOG_FORMAT=pretty: pino-pretty lines', async () => {
    for (const [args, env] of [
      [['--log-format', 'pretty'], {}],
      [[], { RELAY_LOG_FORMAT: 'pretty' }],
    ] as const) {
      const out = await outputUntil(transport.cli(), [CLI, ...args], env, /listening/);
      // pino-pretty's lines: time, level, name, message, then one field a line.
      expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(pairing-relay\): listening$/m);
      expect(out).toMatch(/^ {4}url: "ws:\/\/127\.0\.0\.1:\d+\/ws"$/m);
      expect(out).not.toContain('{"level"');
    }
  });

  it('pretty on a terminal by default (auto)', async () => {
    // script(1) gives the relay a pseudo-terminal for stdout.
    const out = await outputUntil(
      'script',
      ['-qfec', `${transport.cli()} ${CLI}`, '/dev/null'],
      {},
      /listening/,
    );
    // Coloured on a terminal: compare the text without its escape sequences.
    const text = out.replace(/\x1b\[[0-9;]*m/g, '');
    expect(text).toMatch(/\] INFO \(pairing-relay\): listening\r?\n {4}url: "ws:/);
    expect(out).not.toContain('{"level"');
  });

  it('a bad --log-format is refused with exit 2', async () => {
    const bad = await run(['--log-format', 'xml'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--log-format must be one of auto, json, pretty, got "xml"/);
  });
});
