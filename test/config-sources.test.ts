// Transport-independent: option names and sources in messages, resolved in this process; no socket.
import { describe, expect, it } from 'vitest';
import { describeOptionError, parseCli } from '../src/config/cli-options.js';
import {
  idleSettings,
  isOptionError,
  nearestOption,
  resolveOptions,
  type OptionSources,
  type RelayOptions,
} from '../src/config/options.js';
import { NO_EVENTS } from '../src/observe/events.js';
import type { Logger } from '../src/observe/logger.js';
import { MisconfigWarnings } from '../src/observe/warnings.js';

const SECRET = 'a-secret-of-16-chars';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/** What the CLI would hand createRelayServer for this argv and environment. */
function cli(
  argv: string[],
  env: Record<string, string> = {},
): { options: RelayOptions; sources: OptionSources } {
  const command = parseCli(argv, env);
  if (command.kind !== 'run') throw new Error(`expected run, got ${command.kind}`);
  return command;
}

/** The CLI's message for a cross-field error createRelayServer() finds. */
function cliMessage(argv: string[], env: Record<string, string>): string {
  const { options, sources } = cli(argv, env);
  const err = thrown(() => resolveOptions(options, sources));
  if (!isOptionError(err)) throw err;
  return describeOptionError(err, sources);
}

describe('unknown library options', () => {
  it('a misspelled option is a TypeError naming it and the real one', () => {
    const err = thrown(() => resolveOptions({ prot: 3001 } as RelayOptions));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('pairing-relay: unknown option "prot" (did you mean "port"?)');
    expect(thrown(() => resolveOptions({ trustproxy: 1 } as RelayOptions)).message).toMatch(
      /"trustproxy" \(did you mean "trustProxy"\?\)/,
    );
    expect(thrown(() => resolveOptions({ sessionTtl: 1 } as RelayOptions)).message).toMatch(
      /did you mean "sessionTtlMs"/,
    );
  });

  it('a name close to nothing gets no guess', () => {
    const err = thrown(() => resolveOptions({ colour: 'blue' } as RelayOptions));
    expect(err.message).toBe('pairing-relay: unknown option "colour"');
    expect(nearestOption('x')).toBeUndefined();
  });

  it('the non-tunable options are known', () => {
    const given = { server: undefined, logger: undefined, mount: false };
    expect(() => resolveOptions(given as unknown as RelayOptions)).not.toThrow();
  });
});

describe('Redis settings say what is wrong', () => {
  it('a short secret is too short, not missing', () => {
    const err = thrown(() => resolveOptions({ redisUrl: 'redis://r:6379', redisSecret: 'short' }));
    expect(err.message).toMatch(/"redisSecret" is too short \(16\+ characters/);
    expect(err.message).not.toMatch(/required/);
    expect(cliMessage([], { REDIS_URL: 'redis://r:6379', RELAY_REDIS_SECRET: 'short' })).toMatch(
      /^RELAY_REDIS_SECRET is too short \(16\+ characters/,
    );
  });

  it('no secret at all is still "required"', () => {
    expect(thrown(() => resolveOptions({ redisUrl: 'redis://r:6379' })).message).toMatch(
      /"redisSecret" is required/,
    );
  });

  it('a REDIS_URL that is not a URL says so, without quoting it', () => {
    const err = thrown(() => resolveOptions({ redisUrl: 'my-redis-pw-hunter2' }));
    expect(err.message).toMatch(/"redisUrl" is not a URL/);
    expect(err.message).not.toContain('hunter2');
    expect(cliMessage([], { REDIS_URL: 'redis-host', RELAY_REDIS_SECRET: SECRET })).toMatch(
      /^REDIS_URL is not a URL/,
    );
    // A URL of another scheme is a URL: the scheme is what is wrong.
    expect(thrown(() => resolveOptions({ redisUrl: 'http://r' })).message).toMatch(
      /must start with redis:\/\//,
    );
  });

  it('a secret without a Redis URL is a warning naming both, as the user set them', () => {
    expect(idleSettings(resolveOptions({ redisSecret: SECRET }))).toEqual([
      expect.stringMatching(/^redisSecret is set but no Redis is \(redisUrl, /),
    ]);
    const { options, sources } = cli([], { RELAY_REDIS_SECRET: SECRET });
    expect(idleSettings(resolveOptions(options, sources))).toEqual([
      expect.stringMatching(
        /^RELAY_REDIS_SECRET is set but no Redis is \(REDIS_URL \(or REDIS_URL_FILE\), /,
      ),
    ]);
    expect(idleSettings(resolveOptions({ redisUrl: 'redis://r', redisSecret: SECRET }))).toEqual(
      [],
    );
    expect(idleSettings(resolveOptions({}))).toEqual([]);
  });

  it('TLS files for a connection that is not TLS are a warning naming them and the way to turn TLS on', () => {
    const plain = cli([], {
      REDIS_URL: 'redis://r:6379',
      RELAY_REDIS_SECRET: SECRET,
      REDIS_TLS_CA_FILE: '/etc/ca.pem',
    });
    expect(idleSettings(resolveOptions(plain.options, plain.sources))).toEqual([
      expect.stringMatching(
        /^REDIS_TLS_CA_FILE set but the Redis connection is not TLS .*rediss:\/\//,
      ),
    ]);
    for (const tls of [
      { redisUrl: 'rediss://r:6380' },
      { redisClusterNodes: 'rediss://a:6379' },
      { redisClusterNodes: 'a:6379', redisTls: true },
      { redisSentinels: 's:26379', redisTls: true },
    ]) {
      expect(
        idleSettings(
          resolveOptions({ ...tls, redisSecret: SECRET, redisTlsCaFile: '/etc/ca.pem' }),
        ),
      ).toEqual([]);
    }
    const sentinel = resolveOptions({
      redisSentinels: 's:26379',
      redisSecret: SECRET,
      redisTlsServername: 'redis.test',
    });
    expect(idleSettings(sentinel)).toEqual([expect.stringContaining('redisTlsServername set')]);
  });
});

describe('messages name what the user set', () => {
  it('a cross-field error names the variable that was set, or the file variable', () => {
    expect(cliMessage([], { REDIS_URL: 'redis://r:6379' })).toMatch(
      /^RELAY_REDIS_SECRET \(or RELAY_REDIS_SECRET_FILE\) is required/,
    );
    expect(cliMessage([], { REDIS_URL: 'ftp://r', RELAY_REDIS_SECRET: SECRET })).toMatch(
      /^REDIS_URL must start/,
    );
  });

  it("resolved names: the library's option, the flag given, the variable set, or both when unset", () => {
    expect(resolveOptions({ trustProxy: 1 }).names.trustProxy).toBe('trustProxy');
    const byFlag = cli(['--trust-proxy', '1'], { AMESH_TRUST_PROXY: '2' });
    expect(resolveOptions(byFlag.options, byFlag.sources).names.trustProxy).toBe('--trust-proxy');
    const byEnv = cli([], { AMESH_TRUST_PROXY: '1' });
    expect(resolveOptions(byEnv.options, byEnv.sources).names.trustProxy).toBe('AMESH_TRUST_PROXY');
    const unset = cli([]);
    expect(resolveOptions(unset.options, unset.sources).names.trustProxy).toBe(
      '--trust-proxy / AMESH_TRUST_PROXY',
    );
  });

  it('the trust-proxy warning names the flag when the flag was given', () => {
    const { options, sources } = cli(['--trust-proxy', '1']);
    const opts = resolveOptions(options, sources);
    const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
    const log = {
      warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }),
    } as unknown as Logger;
    new MisconfigWarnings(log, NO_EVENTS, {
      trustsProxy: true,
      trustSetting: opts.names.trustProxy,
      attemptsSetting: opts.names.failedAttemptsPerIp,
      sharedKeySessions: 0,
      windowMs: 60_000,
    }).upgrade(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.fields['setting']).toBe('--trust-proxy');
    expect(lines[0]?.msg).toMatch(/Unset --trust-proxy if nothing is in front/);
    expect(lines[0]?.msg).not.toContain('AMESH_TRUST_PROXY');
  });
});
