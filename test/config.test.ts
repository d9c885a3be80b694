// Transport-independent: the settings table and option resolution, in this process; no socket.
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  DEFAULTS,
  SETTINGS,
  SETTINGS_TABLE,
  isOptionError,
  resolveOptions,
  type RelayOptions,
  type TunableKey,
  type Tunables,
} from '../src/config/options.js';
import { VERSION } from '../src/version.js';
import { readFileSync } from 'node:fs';

/** The error `fn` throws; fails the test if it throws none. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

const SECRET = 'a-secret-of-16-chars';

describe('settings table', () => {
  it('the option types are the table keys', () => {
    expectTypeOf<keyof Tunables>().toEqualTypeOf<keyof typeof SETTINGS_TABLE>();
    expectTypeOf<TunableKey>().toEqualTypeOf<keyof typeof SETTINGS_TABLE>();
  });

  it('SETTINGS and DEFAULTS hold every key exactly once, in table order', () => {
    const keys = Object.keys(SETTINGS_TABLE);
    expect(SETTINGS.map((s) => s.key)).toEqual(keys);
    expect(Object.keys(DEFAULTS)).toEqual(keys);
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(keys.length);
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(keys.length);
  });

  it('every default passes its own check and lies in its range', () => {
    expect(resolveOptions({ ...DEFAULTS })).toMatchObject(DEFAULTS);
    for (const s of SETTINGS) {
      expect(s.default).toBe(DEFAULTS[s.key]);
      if (s.kind === 'int') {
        expect(s.min).toBeLessThanOrEqual(s.default as number);
        expect(s.max).toBeGreaterThanOrEqual(s.default as number);
      }
    }
  });

  it('flags are the kebab-cased keys; the new scale-out settings follow redisTimeoutMs', () => {
    const byKey = new Map(SETTINGS.map((s) => [s.key, s]));
    expect(byKey.get('maxSocketsPerIp')?.flag).toBe('--max-sockets-per-ip');
    expect(SETTINGS.slice(-3).map((s) => [s.key, s.flag, s.env])).toEqual([
      ['redisTimeoutMs', '--redis-timeout-ms', 'RELAY_REDIS_TIMEOUT_MS'],
      ['peerTimeoutMs', '--peer-timeout-ms', 'RELAY_PEER_TIMEOUT_MS'],
      ['readyDuringRedisOutage', '--ready-during-redis-outage', 'RELAY_READY_DURING_REDIS_OUTAGE'],
    ]);
    expect(byKey.get('peerTimeoutMs')).toMatchObject({ default: 3000, min: 300, max: 60_000 });
    expect(DEFAULTS.readyDuringRedisOutage).toBe(true);
  });

  it('DEFAULTS and SETTINGS cannot be changed at run time', () => {
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
    expect(Object.isFrozen(SETTINGS)).toBe(true);
    expect(SETTINGS.every((s) => Object.isFrozen(s))).toBe(true);
  });
});

describe('resolveOptions', () => {
  const bad: Array<[RelayOptions, TunableKey, typeof TypeError | typeof RangeError]> = [
    [{ port: -1 }, 'port', RangeError],
    [{ port: 70_000 }, 'port', RangeError],
    [{ maxFrameBytes: 1.5 }, 'maxFrameBytes', RangeError],
    [{ peerTimeoutMs: 299 }, 'peerTimeoutMs', RangeError],
    [{ host: '' }, 'host', TypeError],
    [{ trustProxy: 'maybe' }, 'trustProxy', TypeError],
    [{ trustProxy: -1 }, 'trustProxy', TypeError],
    [{ logLevel: 'loud' as never }, 'logLevel', TypeError],
    [{ allowLongCodes: 'yes' as never }, 'allowLongCodes', TypeError],
    [{ readyDuringRedisOutage: 1 as never }, 'readyDuringRedisOutage', TypeError],
    [{ redisUrl: 'http://redis' }, 'redisUrl', TypeError],
    [{ redisUrl: 'redis://r:6379' }, 'redisSecret', TypeError],
    [{ redisUrl: 'redis://r:6379', redisSecret: 'short' }, 'redisSecret', TypeError],
  ];
  it.each(bad)('%o: %s at fault', (options, key, type) => {
    const err = thrown(() => resolveOptions(options));
    expect(err).toBeInstanceOf(type);
    expect(isOptionError(err)).toBe(true);
    expect(err).toMatchObject({ option: key, message: expect.stringContaining(`"${key}"`) });
  });

  it('never echoes a Redis URL or secret in an error', () => {
    const url = 'http://user:hunter2hunter2@redis';
    expect((thrown(() => resolveOptions({ redisUrl: url })) as Error).message).not.toContain(
      'hunter2',
    );
    expect(
      (thrown(() => resolveOptions({ redisUrl: 'redis://r', redisSecret: 'hunter2' })) as Error)
        .message,
    ).not.toContain('hunter2');
  });

  it("'' turns redisUrl, redisSecret and trustProxy off", () => {
    const resolved = resolveOptions({ redisUrl: '', redisSecret: '', trustProxy: '' });
    expect(resolved).toMatchObject({ redisUrl: '', redisSecret: '', trustProxy: '' });
  });

  it('scale-out options with a valid URL and secret', () => {
    const resolved = resolveOptions({
      redisUrl: 'rediss://r:6380',
      redisSecret: SECRET,
      peerTimeoutMs: 300,
      readyDuringRedisOutage: false,
    });
    expect(resolved).toMatchObject({ peerTimeoutMs: 300, readyDuringRedisOutage: false });
  });

  it('a non-object is a plain TypeError, with no option', () => {
    const err = thrown(() => resolveOptions(42 as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(isOptionError(err)).toBe(false);
  });
});

describe('version', () => {
  it("is package.json's (npm version keeps them together)", () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(VERSION).toBe(pkg.version);
  });
});
