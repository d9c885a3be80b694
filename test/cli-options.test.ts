// Transport-independent: CLI argument parsing, in this process; no socket.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeOptionError, parseCli } from '../src/config/cli-options.js';
import { isOptionError, resolveOptions, type OptionError } from '../src/config/options.js';

/** The error `fn` throws; fails the test if it throws none or one that is not `kind`. */
function thrown<E>(fn: () => unknown, is: (err: unknown) => err is E, kind: string): E {
  try {
    fn();
  } catch (err) {
    if (is(err)) return err;
    throw new Error(`expected ${kind}, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected ${kind}, got none`);
}

const configError = (fn: () => unknown): ConfigError =>
  thrown(fn, (err): err is ConfigError => err instanceof ConfigError, 'a ConfigError');
const optionError = (fn: () => unknown): OptionError =>
  thrown(fn, isOptionError, 'an option error');

const runCommand = (argv: string[], env: Record<string, string> = {}) => {
  const command = parseCli(argv, env);
  if (command.kind !== 'run') throw new Error(`expected run, got ${command.kind}`);
  return command;
};

const run = (argv: string[], env: Record<string, string> = {}): Record<string, unknown> =>
  runCommand(argv, env).options as Record<string, unknown>;

/** The CLI's message for the cross-field error that resolving these variables finds. */
function resolveMessage(env: Record<string, string>): string {
  const { options, sources } = runCommand([], env);
  return describeOptionError(
    optionError(() => resolveOptions(options, sources)),
    sources,
  );
}

describe('parseCli', () => {
  it('flags win over variables, variables over defaults', () => {
    expect(run(['--port', '4000'], { PORT: '5000' })['port']).toBe(4000);
    expect(run([], { PORT: '5000' })['port']).toBe(5000);
    expect(run([], {})['port']).toBeUndefined();
  });

  it('an empty variable counts as unset', () => {
    expect(run([], { PORT: '', AMESH_TRUST_PROXY: '' })).toEqual({});
  });

  it('booleans: variable forms, --flag, and --no-flag to turn a variable off', () => {
    expect(run([], { RELAY_METRICS: 'yes' })['metrics']).toBe(true);
    expect(run([], { RELAY_METRICS: '0' })['metrics']).toBe(false);
    expect(run(['--metrics'])['metrics']).toBe(true);
    expect(run(['--no-metrics'], { RELAY_METRICS: '1' })['metrics']).toBe(false);
    expect(() => run(['--metrics', '--no-metrics'])).toThrow(ConfigError);
  });

  it('errors name the flag or the variable', () => {
    expect(() => run(['--port', 'x'])).toThrow(/--port/);
    expect(() => run([], { PORT: 'x' })).toThrow(/PORT/);
    expect(() => run([], { AMESH_TRUST_PROXY: 'maybe' })).toThrow(/AMESH_TRUST_PROXY/);
    expect(() => run(['--trust-proxy', '10.0.0.0/99'])).toThrow(/--trust-proxy/);
    expect(() => run([], { RELAY_MAX_SESSIONS: '0' })).toThrow(/RELAY_MAX_SESSIONS/);
    expect(() => run(['--bogus'])).toThrow(/bogus/);
    expect(() => run(['positional'])).toThrow(ConfigError);
  });

  it('errors carry the option at fault, naming the variable or the flag the user set', () => {
    const fromEnv = configError(() => run([], { RELAY_PEER_TIMEOUT_MS: '100' }));
    expect(fromEnv.option).toBe('peerTimeoutMs');
    expect(fromEnv.message).toMatch(/^RELAY_PEER_TIMEOUT_MS must be an integer from 300 to 60000/);
    expect(fromEnv.message).not.toContain('--peer-timeout-ms');

    const fromFlag = configError(() => run(['--port', '70000'], { PORT: '1' }));
    expect(fromFlag.option).toBe('port');
    expect(fromFlag.message).toMatch(/^--port /);
    expect(fromFlag.message).not.toContain('PORT');

    expect(configError(() => run([], { AMESH_TRUST_PROXY: 'maybe' })).option).toBe('trustProxy');
    expect(configError(() => run([], { LOG_LEVEL: 'loud' })).option).toBe('logLevel');
    expect(configError(() => run(['--host', ''])).option).toBe('host');
    const bool = configError(() => run([], { RELAY_READY_DURING_REDIS_OUTAGE: 'perhaps' }));
    expect(bool.option).toBe('readyDuringRedisOutage');
    expect(bool.message).toMatch(/RELAY_READY_DURING_REDIS_OUTAGE.*1\/true\/yes/);
    expect(configError(() => run(['--bogus'])).option).toBeUndefined();
  });

  it('integers: digits only, then the library range', () => {
    for (const raw of ['1e3', '0x10', '-1', '3.5', '300ms']) {
      expect(configError(() => run([], { RELAY_PEER_TIMEOUT_MS: raw })).option).toBe(
        'peerTimeoutMs',
      );
    }
    expect(run([], { RELAY_PEER_TIMEOUT_MS: '0300' })['peerTimeoutMs']).toBe(300);
  });

  it('the scale-out settings parse from variables and flags', () => {
    expect(
      run([], { RELAY_PEER_TIMEOUT_MS: '5000', RELAY_READY_DURING_REDIS_OUTAGE: 'no' }),
    ).toEqual({ peerTimeoutMs: 5000, readyDuringRedisOutage: false });
    expect(
      run(['--peer-timeout-ms', '60000', '--no-ready-during-redis-outage'], {
        RELAY_PEER_TIMEOUT_MS: '5000',
        RELAY_READY_DURING_REDIS_OUTAGE: 'yes',
      }),
    ).toEqual({ peerTimeoutMs: 60_000, readyDuringRedisOutage: false });
    expect(run(['--ready-during-redis-outage'])['readyDuringRedisOutage']).toBe(true);
  });

  it('secrets have no flag; an empty variable is unset', () => {
    expect(() => run(['--redis-url', 'redis://r:6379'])).toThrow(/redis-url/);
    expect(() => run(['--redis-secret', 'x'.repeat(20)])).toThrow(/redis-secret/);
    expect(run([], { REDIS_URL: ' ', RELAY_REDIS_SECRET: '' })).toEqual({});
  });

  it('a secret from <VARIABLE>_FILE; both ways set is an error naming both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-secret-'));
    try {
      const file = join(dir, 'secret');
      writeFileSync(file, 'from-a-file-0123456789\n');
      const urlFile = join(dir, 'url');
      writeFileSync(urlFile, 'redis://:pw@r:6379');
      expect(run([], { RELAY_REDIS_SECRET_FILE: file, REDIS_URL_FILE: urlFile })).toEqual({
        redisSecret: 'from-a-file-0123456789',
        redisUrl: 'redis://:pw@r:6379',
      });
      const both = configError(() =>
        run([], { RELAY_REDIS_SECRET: 'direct-0123456789ab', RELAY_REDIS_SECRET_FILE: file }),
      );
      expect(both.message).toContain('RELAY_REDIS_SECRET and RELAY_REDIS_SECRET_FILE');
      expect(both.message).not.toContain('direct-0123456789ab');
      const missing = configError(() => run([], { REDIS_URL_FILE: join(dir, 'absent') }));
      expect(missing.message).toMatch(/^REDIS_URL_FILE: cannot read the file it names \(ENOENT\)/);
      writeFileSync(file, '\n');
      expect(configError(() => run([], { RELAY_REDIS_SECRET_FILE: file })).message).toMatch(
        /^RELAY_REDIS_SECRET_FILE names an empty file/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one Redis topology: two set is an error naming both; node lists are checked', () => {
    const both = {
      REDIS_URL: 'redis://r:6379',
      REDIS_CLUSTER_NODES: 'a:7000',
      RELAY_REDIS_SECRET: 'x'.repeat(20),
    };
    const message = resolveMessage(both);
    expect(message).toContain('REDIS_URL');
    expect(message).toContain('REDIS_CLUSTER_NODES');
    expect(() => resolveOptions({ redisSentinels: 'a:1', redisClusterNodes: 'b:2' })).toThrow(
      /redisClusterNodes.*redisSentinels/,
    );
    expect(() =>
      resolveOptions({ redisClusterNodes: 'nohost', redisSecret: 'x'.repeat(20) }),
    ).toThrow(/host:port/);
    expect(
      resolveOptions({
        redisClusterNodes: 'a:7000, rediss://b:7001,[::1]:7002',
        redisSecret: 'x'.repeat(20),
      }).redisClusterNodes,
    ).toContain('a:7000');
    expect(() => resolveOptions({ redisSentinels: 'a:26379' })).toThrow(/redisSecret/);
  });

  it('a password in REDIS_URL and REDIS_PASSWORD too is an error naming both, quoting neither', () => {
    const message = resolveMessage({
      REDIS_URL: 'redis://:hunter2-in-url@r:6379',
      REDIS_PASSWORD: 'hunter2-in-var',
      RELAY_REDIS_SECRET: 'x'.repeat(20),
    });
    expect(message).toMatch(/^REDIS_PASSWORD is set and REDIS_URL holds a password/);
    expect(message).not.toContain('hunter2');
  });

  it('--redis-prefix takes no braces (they would move the hash tag)', () => {
    expect(run(['--redis-prefix', 'a:'])).toEqual({ redisPrefix: 'a:' });
    expect(() => resolveOptions({ redisPrefix: '{a}:' })).toThrow(/redisPrefix.*\{/);
  });

  it('a cross-field error from the library names flag and variable', () => {
    const options = run([], { REDIS_URL: 'redis://r:6379' });
    expect(describeOptionError(optionError(() => resolveOptions(options)))).toMatch(
      /^RELAY_REDIS_SECRET \(or RELAY_REDIS_SECRET_FILE\) /,
    );
  });

  it('help and version', () => {
    expect(parseCli(['--help'], {}).kind).toBe('help');
    expect(parseCli(['-h'], {}).kind).toBe('help');
    expect(parseCli(['--version'], {}).kind).toBe('version');
  });
});
