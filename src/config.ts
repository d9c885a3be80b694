import type { Server } from 'node:http';
import type { Logger } from 'pino';

/**
 * Every tunable of the relay in one table: the library's defaults, the CLI's
 * flags and environment variables, `--help` and the README table all come
 * from here, so they cannot drift apart.
 */
export interface Setting {
  key: TunableKey;
  flag: string;
  env: string;
  kind: 'int' | 'string' | 'bool' | 'trust' | 'level';
  min?: number;
  max?: number;
  description: string;
}

/** The plain-valued options; `server` and `logger` are programmatic only. */
export interface Tunables {
  port: number;
  host: string;
  trustProxy: TrustProxySetting;
  logLevel: LogLevel;
  sessionTtlMs: number;
  pairedTtlMs: number;
  maxFrameBytes: number;
  maxSessionBytes: number;
  maxSessions: number;
  maxSockets: number;
  maxSocketsPerIp: number;
  failedAttemptsPerIp: number;
  failedAttemptWindowMs: number;
  codeFailureLimit: number;
  watchesPerIp: number;
  watchWindowMs: number;
  watchTtlMs: number;
  idleTimeoutMs: number;
  heartbeatMs: number;
  maxBufferedBytes: number;
  consumedJtiTtlMs: number;
  maxConsumedJtis: number;
  maxJtiLength: number;
  allowLongCodes: boolean;
  drainMs: number;
  metrics: boolean;
  metricsPort: number;
  redisUrl: string;
  redisSecret: string;
  redisTimeoutMs: number;
}
export type TunableKey = keyof Tunables;

/** `AMESH_TRUST_PROXY` syntax as a string, a hop count, on/off, or an address list. */
export type TrustProxySetting = string | number | boolean | readonly string[];
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

export interface RelayOptions extends Partial<Tunables> {
  /** Attach to this existing HTTP server instead of creating one (`start()` does not listen). */
  server?: Server;
  /** A pino logger to use instead of creating one from `logLevel`. */
  logger?: Logger;
}

export interface ResolvedOptions extends Tunables {
  server: Server | undefined;
  logger: Logger | undefined;
}

// setTimeout silently fires at once for delays above 2^31-1 ms.
const MAX_TIMER_MS = 2_147_483_647;
const MiB = 1024 * 1024;

export const DEFAULTS: Readonly<Tunables> = Object.freeze({
  port: 3001,
  host: '0.0.0.0',
  trustProxy: '',
  logLevel: 'info',
  sessionTtlMs: 30_000,
  pairedTtlMs: 30_000,
  maxFrameBytes: 64 * 1024,
  maxSessionBytes: 5 * MiB,
  maxSessions: 50_000,
  maxSockets: 10_000,
  maxSocketsPerIp: 64,
  failedAttemptsPerIp: 5,
  failedAttemptWindowMs: 60_000,
  codeFailureLimit: 5,
  watchesPerIp: 10,
  watchWindowMs: 60_000,
  watchTtlMs: 5 * 60_000,
  idleTimeoutMs: 10_000,
  heartbeatMs: 30_000,
  maxBufferedBytes: 1 * MiB,
  consumedJtiTtlMs: 25 * 60 * 60_000,
  maxConsumedJtis: 1_000_000,
  maxJtiLength: 128,
  allowLongCodes: false,
  drainMs: 10_000,
  metrics: false,
  metricsPort: 0,
  redisUrl: '',
  redisSecret: '',
  redisTimeoutMs: 1_000,
});

export const SETTINGS: readonly Setting[] = [
  s('port', 'PORT', 'int', 'TCP port to listen on (0 picks a free port)', 0, 65_535),
  s('host', 'HOST', 'string', 'address to bind'),
  s(
    'trustProxy',
    'AMESH_TRUST_PROXY',
    'trust',
    'which proxies to believe for the client address: off, 1/true/yes (one hop), a hop count, or an address/CIDR list',
  ),
  s('logLevel', 'LOG_LEVEL', 'level', `log level: ${LOG_LEVELS.join(', ')}`),
  s(
    'sessionTtlMs',
    'RELAY_SESSION_TTL_MS',
    'int',
    'how long a code waits for its controller',
    1,
    MAX_TIMER_MS,
  ),
  s(
    'pairedTtlMs',
    'RELAY_PAIRED_TTL_MS',
    'int',
    'how long a session may live once paired',
    1,
    MAX_TIMER_MS,
  ),
  s(
    'maxFrameBytes',
    'RELAY_MAX_FRAME_BYTES',
    'int',
    'largest WebSocket frame (close 1009 above)',
    256,
    64 * MiB,
  ),
  s(
    'maxSessionBytes',
    'RELAY_MAX_SESSION_BYTES',
    'int',
    'data frame bytes per session, both ways',
    1,
    2 ** 40,
  ),
  s(
    'maxSessions',
    'RELAY_MAX_SESSIONS',
    'int',
    'concurrent sessions (relay_capacity above)',
    1,
    10_000_000,
  ),
  s(
    'maxSockets',
    'RELAY_MAX_SOCKETS',
    'int',
    'concurrent WebSockets (503 at upgrade above)',
    1,
    10_000_000,
  ),
  s(
    'maxSocketsPerIp',
    'RELAY_MAX_SOCKETS_PER_IP',
    'int',
    'concurrent WebSockets per client address (429 at upgrade above)',
    1,
    10_000_000,
  ),
  s(
    'failedAttemptsPerIp',
    'RELAY_FAILED_ATTEMPTS_PER_IP',
    'int',
    'failed listen/connect per client address per window',
    1,
    1_000_000,
  ),
  s(
    'failedAttemptWindowMs',
    'RELAY_FAILED_ATTEMPT_WINDOW_MS',
    'int',
    'window for failed attempts and for burned codes',
    1,
    MAX_TIMER_MS,
  ),
  s(
    'codeFailureLimit',
    'RELAY_CODE_FAILURE_LIMIT',
    'int',
    'failed attempts on one code, from any addresses, that burn it for the window',
    1,
    1_000_000,
  ),
  s(
    'watchesPerIp',
    'RELAY_WATCHES_PER_IP',
    'int',
    'bootstrap_watch per client address per window',
    1,
    1_000_000,
  ),
  s('watchWindowMs', 'RELAY_WATCH_WINDOW_MS', 'int', 'window for bootstrap_watch', 1, MAX_TIMER_MS),
  s('watchTtlMs', 'RELAY_WATCH_TTL_MS', 'int', 'how long a bootstrap watch lasts', 1, MAX_TIMER_MS),
  s(
    'idleTimeoutMs',
    'RELAY_IDLE_TIMEOUT_MS',
    'int',
    'close a socket that holds no session, watch or bootstrap this long (0 = never)',
    0,
    MAX_TIMER_MS,
  ),
  s(
    'heartbeatMs',
    'RELAY_HEARTBEAT_MS',
    'int',
    'ping interval; a socket that has not answered the previous ping is terminated (0 = off)',
    0,
    MAX_TIMER_MS,
  ),
  s(
    'maxBufferedBytes',
    'RELAY_MAX_BUFFERED_BYTES',
    'int',
    "a slow reader's send buffer; above it the socket is closed",
    1024,
    2 ** 40,
  ),
  s(
    'consumedJtiTtlMs',
    'RELAY_CONSUMED_JTI_TTL_MS',
    'int',
    'how long a used bootstrap jti stays burned',
    1,
    2 ** 40,
  ),
  s(
    'maxConsumedJtis',
    'RELAY_MAX_CONSUMED_JTIS',
    'int',
    'burned jtis kept at most (relay_overloaded above)',
    1,
    100_000_000,
  ),
  s(
    'maxJtiLength',
    'RELAY_MAX_JTI_LENGTH',
    'int',
    'longest jti accepted (invalid_jti above)',
    1,
    4096,
  ),
  s(
    'allowLongCodes',
    'RELAY_ALLOW_LONG_CODES',
    'bool',
    'also accept 6-64 character codes of [A-Za-z0-9_-], not only 6 digits',
  ),
  s(
    'drainMs',
    'RELAY_DRAIN_MS',
    'int',
    'on SIGTERM/SIGINT, how long live sessions may finish',
    0,
    MAX_TIMER_MS,
  ),
  s('metrics', 'RELAY_METRICS', 'bool', 'serve Prometheus metrics at /metrics'),
  s(
    'metricsPort',
    'RELAY_METRICS_PORT',
    'int',
    'serve /metrics on this port instead of the relay port (0 = the relay port)',
    0,
    65_535,
  ),
  s(
    'redisUrl',
    'REDIS_URL',
    'string',
    'scale-out: redis:// or rediss:// URL shared by every replica (off = in-memory)',
  ),
  s(
    'redisSecret',
    'RELAY_REDIS_SECRET',
    'string',
    'scale-out: secret (16+ chars, the same on every replica) that keys codes and jtis in Redis by HMAC',
  ),
  s(
    'redisTimeoutMs',
    'RELAY_REDIS_TIMEOUT_MS',
    'int',
    'scale-out: timeout of every Redis call',
    50,
    60_000,
  ),
];

function s(
  key: TunableKey,
  env: string,
  kind: Setting['kind'],
  description: string,
  min?: number,
  max?: number,
): Setting {
  const flag = '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
  const setting: Setting = { key, flag, env, kind, description };
  if (min !== undefined) setting.min = min;
  if (max !== undefined) setting.max = max;
  return setting;
}

/** Applies defaults and validates once, so a bad value fails at construction. */
export function resolveOptions(options: RelayOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('pairing-relay: options must be an object');
  }
  const out = { ...DEFAULTS } as Record<TunableKey, unknown>;
  for (const setting of SETTINGS) {
    const value = options[setting.key];
    if (value === undefined) continue;
    checkValue(setting, value);
    out[setting.key] = value;
  }
  const resolved = out as unknown as Tunables;
  if (resolved.redisUrl !== '') {
    if (!/^rediss?:\/\//.test(resolved.redisUrl)) {
      throw new TypeError('pairing-relay: option "redisUrl" must start with redis:// or rediss://');
    }
    if (resolved.redisSecret.length < 16) {
      throw new TypeError(
        'pairing-relay: option "redisSecret" is required with redisUrl: 16+ characters, the same on every replica',
      );
    }
  }
  return { ...resolved, server: options.server, logger: options.logger };
}

function checkValue(setting: Setting, value: unknown): void {
  const name = `option "${setting.key}"`;
  switch (setting.kind) {
    case 'int':
      if (
        typeof value !== 'number' ||
        !Number.isInteger(value) ||
        value < (setting.min ?? 0) ||
        value > (setting.max ?? Number.MAX_SAFE_INTEGER)
      ) {
        throw new RangeError(
          `pairing-relay: ${name} must be an integer from ${setting.min ?? 0} to ${setting.max}, got ${String(value)}`,
        );
      }
      return;
    case 'string':
      if (typeof value !== 'string' || value.length === 0) {
        throw new TypeError(`pairing-relay: ${name} must be a non-empty string`);
      }
      return;
    case 'bool':
      if (typeof value !== 'boolean')
        throw new TypeError(`pairing-relay: ${name} must be a boolean`);
      return;
    case 'level':
      if (!LOG_LEVELS.includes(value as LogLevel)) {
        throw new TypeError(`pairing-relay: ${name} must be one of ${LOG_LEVELS.join(', ')}`);
      }
      return;
    case 'trust':
      // Parsed and checked by compileTrust() in client-address.ts.
      return;
  }
}
