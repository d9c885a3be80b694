import type { Server } from 'node:http';
import { compileTrust, type TrustProxySetting } from './trust-proxy.js';

export type { TrustProxySetting } from './trust-proxy.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** auto: human lines when stdout is a terminal, JSON lines otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];

/** What the relay knows about an upgrade, for an access check of the operator's own. */
export interface AccessRequest {
  /** The client key the relay rate-limits on (address, or IPv6 /64). */
  clientKey: string;
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
}

/** An operator's own access check: the token from `Authorization: Bearer` or `?token=`, if any. */
export type AccessCheck = (
  token: string | undefined,
  request: AccessRequest,
) => boolean | Promise<boolean>;

/** Access tokens: a list (empty = no gate), or a check of the operator's own. */
export type AccessTokens = readonly string[] | AccessCheck;

export const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

interface SpecCommon {
  env: string;
  description: string;
  /** What `--help` and docs/configuration.md show as the default, when the value itself would mislead. */
  shownDefault?: string;
  /**
   * A secret: no command-line flag (argv shows in `ps`), only the variable or
   * `<VARIABLE>_FILE`, a file holding the value (a mounted Kubernetes Secret).
   */
  secret?: boolean;
}

/** One row of {@link SETTINGS_TABLE}; `kind` decides the value's type and its checks. */
export type SettingSpec =
  | (SpecCommon & { kind: 'int'; default: number; min: number; max: number })
  | (SpecCommon & { kind: 'bool'; default: boolean })
  | (SpecCommon & { kind: 'string'; default: string; emptyMeansOff?: boolean })
  | (SpecCommon & { kind: 'level'; default: LogLevel })
  | (SpecCommon & { kind: 'format'; default: LogFormat })
  | (SpecCommon & { kind: 'tokens'; default: readonly string[] })
  | (SpecCommon & { kind: 'trust'; default: TrustProxySetting });

// setTimeout silently fires at once for delays above 2^31-1 ms.
const MAX_TIMER_MS = 2_147_483_647;
const MiB = 1024 * 1024;

/**
 * Every tunable of the relay, once: the option types, the library's defaults
 * and checks, the CLI's flags and variables, `--help` and the table in docs/configuration.md all
 * come from here, so a setting cannot be half-added.
 */
export const SETTINGS_TABLE = {
  port: {
    kind: 'int',
    default: 3001,
    env: 'PORT',
    min: 0,
    max: 65_535,
    description: 'TCP port to listen on (0 picks a free port)',
  },
  host: { kind: 'string', default: '0.0.0.0', env: 'HOST', description: 'address to bind' },
  trustProxy: {
    kind: 'trust',
    default: '',
    env: 'AMESH_TRUST_PROXY',
    shownDefault: 'off',
    description:
      'which proxies to believe for the client address: off, 1/true/yes (one hop), a hop count, or an address/CIDR list',
  },
  logLevel: {
    kind: 'level',
    default: 'info',
    env: 'LOG_LEVEL',
    description: `log level: ${LOG_LEVELS.join(', ')}`,
  },
  logFormat: {
    kind: 'format',
    default: 'auto',
    env: 'RELAY_LOG_FORMAT',
    description:
      'log lines: json, pretty (short human lines), or auto (pretty on a terminal, else json)',
  },
  sessionTtlMs: {
    kind: 'int',
    default: 30_000,
    env: 'RELAY_SESSION_TTL_MS',
    min: 1,
    max: MAX_TIMER_MS,
    description: 'how long a code waits for its controller',
  },
  pairedTtlMs: {
    kind: 'int',
    default: 30_000,
    env: 'RELAY_PAIRED_TTL_MS',
    min: 1,
    max: MAX_TIMER_MS,
    description: 'how long a session may live once paired',
  },
  maxFrameBytes: {
    kind: 'int',
    default: 64 * 1024,
    env: 'RELAY_MAX_FRAME_BYTES',
    min: 256,
    max: 64 * MiB,
    description: 'largest WebSocket frame (close 1009 above)',
  },
  maxSessionBytes: {
    kind: 'int',
    default: 5 * MiB,
    env: 'RELAY_MAX_SESSION_BYTES',
    min: 1,
    max: 2 ** 40,
    description: 'data frame bytes per session, both ways',
  },
  maxSessions: {
    kind: 'int',
    default: 50_000,
    env: 'RELAY_MAX_SESSIONS',
    min: 1,
    max: 10_000_000,
    description: 'concurrent sessions (relay_capacity above)',
  },
  maxSockets: {
    kind: 'int',
    default: 10_000,
    env: 'RELAY_MAX_SOCKETS',
    min: 1,
    max: 10_000_000,
    description: 'concurrent WebSockets (503 at upgrade above)',
  },
  maxSocketsPerIp: {
    kind: 'int',
    default: 64,
    env: 'RELAY_MAX_SOCKETS_PER_IP',
    min: 1,
    max: 10_000_000,
    description: 'concurrent WebSockets per client address (429 at upgrade above)',
  },
  failedAttemptsPerIp: {
    kind: 'int',
    default: 5,
    env: 'RELAY_FAILED_ATTEMPTS_PER_IP',
    min: 1,
    max: 1_000_000,
    description: 'failed listen/connect (and wrong access tokens) per client address per window',
  },
  failedAttemptWindowMs: {
    kind: 'int',
    default: 60_000,
    env: 'RELAY_FAILED_ATTEMPT_WINDOW_MS',
    min: 1,
    max: MAX_TIMER_MS,
    description: 'window for failed attempts and for burned codes',
  },
  codeFailureLimit: {
    kind: 'int',
    default: 5,
    env: 'RELAY_CODE_FAILURE_LIMIT',
    min: 1,
    max: 1_000_000,
    description: 'failed attempts on one code, from any addresses, that burn it for the window',
  },
  watchesPerIp: {
    kind: 'int',
    default: 10,
    env: 'RELAY_WATCHES_PER_IP',
    min: 1,
    max: 1_000_000,
    description: 'bootstrap_watch per client address per window',
  },
  watchWindowMs: {
    kind: 'int',
    default: 60_000,
    env: 'RELAY_WATCH_WINDOW_MS',
    min: 1,
    max: MAX_TIMER_MS,
    description: 'window for bootstrap_watch',
  },
  watchTtlMs: {
    kind: 'int',
    default: 5 * 60_000,
    env: 'RELAY_WATCH_TTL_MS',
    min: 1,
    max: MAX_TIMER_MS,
    description: 'how long a bootstrap watch lasts',
  },
  idleTimeoutMs: {
    kind: 'int',
    default: 10_000,
    env: 'RELAY_IDLE_TIMEOUT_MS',
    min: 0,
    max: MAX_TIMER_MS,
    description: 'close a socket that holds no session, watch or bootstrap this long (0 = never)',
  },
  heartbeatMs: {
    kind: 'int',
    default: 30_000,
    env: 'RELAY_HEARTBEAT_MS',
    min: 0,
    max: MAX_TIMER_MS,
    description:
      'ping interval; a socket that has not answered the previous ping is terminated (0 = off)',
  },
  maxBufferedBytes: {
    kind: 'int',
    default: 1 * MiB,
    env: 'RELAY_MAX_BUFFERED_BYTES',
    min: 1024,
    max: 2 ** 40,
    description: "a slow reader's send buffer; above it the socket is closed",
  },
  consumedJtiTtlMs: {
    kind: 'int',
    default: 25 * 60 * 60_000,
    env: 'RELAY_CONSUMED_JTI_TTL_MS',
    min: 1,
    max: 2 ** 40,
    description: 'how long a used bootstrap jti stays burned',
  },
  maxConsumedJtis: {
    kind: 'int',
    default: 1_000_000,
    env: 'RELAY_MAX_CONSUMED_JTIS',
    min: 1,
    max: 100_000_000,
    description: 'burned jtis kept at most (relay_overloaded above)',
  },
  maxJtiLength: {
    kind: 'int',
    default: 128,
    env: 'RELAY_MAX_JTI_LENGTH',
    min: 1,
    max: 4096,
    description: 'longest jti accepted (invalid_jti above)',
  },
  allowLongCodes: {
    kind: 'bool',
    default: false,
    env: 'RELAY_ALLOW_LONG_CODES',
    description: 'also accept 6-64 character codes of [A-Za-z0-9_-], not only 6 digits',
  },
  accessTokens: {
    kind: 'tokens',
    default: [],
    env: 'RELAY_ACCESS_TOKENS',
    shownDefault: 'off',
    description:
      'comma list of tokens (16+ chars); an upgrade must carry one (Authorization: Bearer, or ?token=) or gets 401',
  },
  accessTokensFile: {
    kind: 'string',
    default: '',
    env: 'RELAY_ACCESS_TOKENS_FILE',
    emptyMeansOff: true,
    shownDefault: 'off',
    description: 'file of access tokens, one per line (# comments); the CLI re-reads it on SIGHUP',
  },
  sharedKeyWarnSessions: {
    kind: 'int',
    default: 50,
    env: 'RELAY_SHARED_KEY_WARN_SESSIONS',
    min: 0,
    max: 1_000_000,
    description:
      'sessions from one client address within the failed-attempt window that log a warning that clients may share it (0 = never)',
  },
  drainMs: {
    kind: 'int',
    default: 10_000,
    env: 'RELAY_DRAIN_MS',
    min: 0,
    max: MAX_TIMER_MS,
    description: 'on SIGTERM/SIGINT, how long live sessions may finish',
  },
  metrics: {
    kind: 'bool',
    default: false,
    env: 'RELAY_METRICS',
    description: 'serve Prometheus metrics at /metrics',
  },
  metricsPort: {
    kind: 'int',
    default: 0,
    env: 'RELAY_METRICS_PORT',
    min: 0,
    max: 65_535,
    description: 'serve /metrics on this port instead of the relay port (0 = the relay port)',
  },
  redisUrl: {
    kind: 'string',
    default: '',
    env: 'REDIS_URL',
    emptyMeansOff: true,
    shownDefault: 'off',
    secret: true,
    description: 'scale-out: redis:// or rediss:// URL shared by every replica (off = in-memory)',
  },
  redisSecret: {
    kind: 'string',
    default: '',
    env: 'RELAY_REDIS_SECRET',
    emptyMeansOff: true,
    secret: true,
    description:
      'scale-out: secret (16+ chars, generated once, the same on every replica) that keys codes and jtis in Redis by HMAC',
  },
  redisPrefix: {
    kind: 'string',
    default: 'pr:',
    env: 'RELAY_REDIS_PREFIX',
    description:
      'scale-out: prefix of every Redis key and channel, so relays can share one Redis (no { or })',
  },
  redisClusterNodes: {
    kind: 'string',
    default: '',
    env: 'REDIS_CLUSTER_NODES',
    emptyMeansOff: true,
    shownDefault: 'off',
    description:
      'scale-out on Redis Cluster: comma list of seed nodes, host:port or redis[s]:// URLs (instead of REDIS_URL)',
  },
  redisSentinels: {
    kind: 'string',
    default: '',
    env: 'REDIS_SENTINELS',
    emptyMeansOff: true,
    shownDefault: 'off',
    description:
      'scale-out behind Redis Sentinel: comma list of sentinels, host:port (instead of REDIS_URL)',
  },
  redisSentinelMaster: {
    kind: 'string',
    default: 'mymaster',
    env: 'REDIS_SENTINEL_MASTER',
    description: 'scale-out: the master name the sentinels watch',
  },
  redisUsername: {
    kind: 'string',
    default: '',
    env: 'REDIS_USERNAME',
    emptyMeansOff: true,
    shownDefault: 'none',
    description: 'scale-out: ACL user for the Redis nodes (or in REDIS_URL)',
  },
  redisPassword: {
    kind: 'string',
    default: '',
    env: 'REDIS_PASSWORD',
    emptyMeansOff: true,
    secret: true,
    description: 'scale-out: password for the Redis nodes (or in REDIS_URL, not both)',
  },
  redisSentinelUsername: {
    kind: 'string',
    default: '',
    env: 'REDIS_SENTINEL_USERNAME',
    emptyMeansOff: true,
    shownDefault: 'none',
    description: 'scale-out: ACL user for the sentinels',
  },
  redisSentinelPassword: {
    kind: 'string',
    default: '',
    env: 'REDIS_SENTINEL_PASSWORD',
    emptyMeansOff: true,
    secret: true,
    description: 'scale-out: password for the sentinels',
  },
  redisTls: {
    kind: 'bool',
    default: false,
    env: 'REDIS_TLS',
    description:
      'scale-out: TLS to the host:port nodes of REDIS_CLUSTER_NODES and to the sentinels and their Redis (REDIS_URL: use rediss://)',
  },
  redisTlsCaFile: {
    kind: 'string',
    default: '',
    env: 'REDIS_TLS_CA_FILE',
    emptyMeansOff: true,
    shownDefault: 'system CAs',
    description: 'scale-out: PEM file of the CA(s) that signed the Redis certificates',
  },
  redisTlsCertFile: {
    kind: 'string',
    default: '',
    env: 'REDIS_TLS_CERT_FILE',
    emptyMeansOff: true,
    shownDefault: 'none',
    description:
      'scale-out: PEM client certificate, for Redis with tls-auth-clients (with REDIS_TLS_KEY_FILE)',
  },
  redisTlsKeyFile: {
    kind: 'string',
    default: '',
    env: 'REDIS_TLS_KEY_FILE',
    emptyMeansOff: true,
    shownDefault: 'none',
    description: 'scale-out: PEM private key of REDIS_TLS_CERT_FILE',
  },
  redisTlsServername: {
    kind: 'string',
    default: '',
    env: 'REDIS_TLS_SERVERNAME',
    emptyMeansOff: true,
    shownDefault: 'the host name',
    description:
      'scale-out: name to check the Redis certificate against (SNI), when not the host name',
  },
  redisTimeoutMs: {
    kind: 'int',
    default: 1_000,
    env: 'RELAY_REDIS_TIMEOUT_MS',
    min: 50,
    max: 60_000,
    description: 'scale-out: timeout of every Redis call',
  },
  peerTimeoutMs: {
    kind: 'int',
    default: 3_000,
    env: 'RELAY_PEER_TIMEOUT_MS',
    min: 300,
    max: 60_000,
    description:
      'scale-out: an instance unheard for this long is taken for dead; peers of its sessions get peer_disconnected within about 1.2x this',
  },
  readyDuringRedisOutage: {
    kind: 'bool',
    default: true,
    env: 'RELAY_READY_DURING_REDIS_OUTAGE',
    description:
      'scale-out: while Redis is unreachable or slow, /ready stays 200 (body says degraded) and same-instance pairing goes on; off = 503',
  },
} as const satisfies Record<string, SettingSpec>;

export type TunableKey = keyof typeof SETTINGS_TABLE;

interface KindValue {
  int: number;
  bool: boolean;
  string: string;
  level: LogLevel;
  format: LogFormat;
  tokens: AccessTokens;
  trust: TrustProxySetting;
}

/** The plain-valued options, typed by each row's `kind`; `server` and `logger` are programmatic only. */
export type Tunables = {
  -readonly [K in TunableKey]: KindValue[(typeof SETTINGS_TABLE)[K]['kind']];
};

export type LogFn = {
  (obj: object, msg?: string): void;
  (msg: string): void;
};

/**
 * What the relay needs of a logger (the `logger` option): a pino logger is
 * one, and so is any logger with pino's call shape.
 */
export interface Logger {
  level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
}

export interface RelayOptions extends Partial<Tunables> {
  /** Attach to this existing HTTP server instead of creating one (`start()` does not listen). */
  server?: Server;
  /** A logger to use instead of the built-in one (a pino logger fits). */
  logger?: Logger;
  /**
   * Bun only: serve the relay from your own `Bun.serve` through `relay.fetch`
   * and `relay.websocket` (`start()` does not listen).
   */
  mount?: boolean;
}

export interface ResolvedOptions extends Tunables {
  server: Server | undefined;
  logger: Logger | undefined;
  mount: boolean;
  /**
   * What the user knows each setting by, for messages: the library option
   * (`trustProxy`) by default; the CLI gives the flag or variable that was set.
   */
  names: Readonly<Record<TunableKey, string>>;
}

/** For a host that reads settings from elsewhere (the CLI): the name each one was given by. */
export type OptionSources = Partial<Record<TunableKey, string>>;

/** A row of the table with its key and the CLI flag derived from it. */
export interface Setting {
  key: TunableKey;
  flag: string;
  env: string;
  kind: SettingSpec['kind'];
  min?: number;
  max?: number;
  description: string;
  default: Tunables[TunableKey];
  /** '' is accepted and means the feature is off. */
  emptyMeansOff: boolean;
  shownDefault?: string;
  /** No flag: the variable, or the file named by `fileEnv`. */
  secret: boolean;
  /** `<env>_FILE` for a secret. */
  fileEnv?: string;
}

const TUNABLE_KEYS = Object.keys(SETTINGS_TABLE) as TunableKey[];

export const SETTINGS: readonly Setting[] = Object.freeze(
  TUNABLE_KEYS.map((key): Setting => {
    const spec: SettingSpec = SETTINGS_TABLE[key];
    const setting: Setting = {
      key,
      flag: '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()),
      env: spec.env,
      kind: spec.kind,
      description: spec.description,
      default: spec.default,
      emptyMeansOff: spec.kind === 'string' && spec.emptyMeansOff === true,
      secret: spec.secret === true,
    };
    if (spec.secret === true) setting.fileEnv = `${spec.env}_FILE`;
    if (spec.kind === 'int') {
      setting.min = spec.min;
      setting.max = spec.max;
    }
    if (spec.shownDefault !== undefined) setting.shownDefault = spec.shownDefault;
    return Object.freeze(setting);
  }),
);

export const DEFAULTS: Readonly<Tunables> = Object.freeze(
  Object.fromEntries(
    TUNABLE_KEYS.map((key) => [key, SETTINGS_TABLE[key].default]),
  ) as unknown as Tunables,
);

/** A bad option value; `option` is the key at fault, `problem` the message without the name. */
export class OptionTypeError extends TypeError {
  constructor(
    readonly option: TunableKey,
    readonly problem: string,
  ) {
    super(`pairing-relay: option "${option}" ${problem}`);
  }
}

/** As {@link OptionTypeError}, for a number out of its range (RangeError, as callers expect). */
export class OptionRangeError extends RangeError {
  constructor(
    readonly option: TunableKey,
    readonly problem: string,
  ) {
    super(`pairing-relay: option "${option}" ${problem}`);
  }
}

export type OptionError = OptionTypeError | OptionRangeError;

export function isOptionError(err: unknown): err is OptionError {
  return err instanceof OptionTypeError || err instanceof OptionRangeError;
}

const shown = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value) : String(value);

/** The one per-value check, shared by `resolveOptions()` and the CLI. Throws an {@link OptionError}. */
export function checkOption(key: TunableKey, value: unknown): void {
  const spec: SettingSpec = SETTINGS_TABLE[key];
  switch (spec.kind) {
    case 'int':
      if (
        typeof value !== 'number' ||
        !Number.isInteger(value) ||
        value < spec.min ||
        value > spec.max
      ) {
        throw new OptionRangeError(
          key,
          `must be an integer from ${spec.min} to ${spec.max}, got ${shown(value)}`,
        );
      }
      return;
    case 'bool':
      if (typeof value !== 'boolean') {
        throw new OptionTypeError(key, `must be a boolean, got ${shown(value)}`);
      }
      return;
    case 'string': {
      const emptyOk = spec.emptyMeansOff === true;
      // No "got": string settings include URLs with passwords and secrets.
      if (typeof value !== 'string' || (value === '' && !emptyOk)) {
        throw new OptionTypeError(key, emptyOk ? 'must be a string' : 'must be a non-empty string');
      }
      return;
    }
    case 'level':
      return checkOneOf(key, value, LOG_LEVELS);
    case 'format':
      return checkOneOf(key, value, LOG_FORMATS);
    case 'tokens':
      checkTokens(key, value);
      return;
    case 'trust':
      try {
        compileTrust(value as TrustProxySetting);
      } catch (err) {
        // compileTrust names the option itself; drop that so the caller can name it its own way.
        const message = (err as Error).message;
        const prefix = 'trustProxy: ';
        const detail = message.startsWith(prefix) ? message.slice(prefix.length) : message;
        throw new OptionTypeError(key, `is invalid: ${detail}`);
      }
      return;
  }
}

function checkOneOf(key: TunableKey, value: unknown, allowed: readonly string[]): void {
  if (!allowed.includes(value as string)) {
    throw new OptionTypeError(key, `must be one of ${allowed.join(', ')}, got ${shown(value)}`);
  }
}

const MIN_TOKEN_LENGTH = 16;

/** Never quotes a token: the message lands in logs and terminals. */
function checkTokens(key: TunableKey, value: unknown): void {
  if (typeof value === 'function') return;
  if (!Array.isArray(value)) {
    throw new OptionTypeError(key, 'must be a list of tokens or a function');
  }
  value.forEach((token: unknown, i) => {
    const problem = tokenProblem(token);
    if (problem !== undefined) throw new OptionTypeError(key, `entry ${i + 1} ${problem}`);
  });
}

/**
 * Tokens travel in a header and a URL query (the amesh CLI can only use the
 * query), so only characters a URL carries as they are: `+` would arrive as
 * a space and `&` or `#` would cut the token short, and the right token would
 * then fail and spend its address's budget. Base64url fits.
 */
export function tokenProblem(token: unknown): string | undefined {
  if (typeof token !== 'string') return 'is not a string';
  if (token.length < MIN_TOKEN_LENGTH) return `is shorter than ${MIN_TOKEN_LENGTH} characters`;
  if (!/^[A-Za-z0-9._~-]+$/.test(token)) {
    return 'may hold only letters, digits and . _ ~ - (it travels in a URL query)';
  }
  return undefined;
}

const OTHER_KEYS = ['server', 'logger', 'mount'] as const;
const KNOWN_KEYS: readonly string[] = [...TUNABLE_KEYS, ...OTHER_KEYS];

/** Optimal string alignment distance: edits, with a swap of two neighbours as one. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The real option a misspelling most likely meant, if one is close enough to say. */
export function nearestOption(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = name.toLowerCase();
  for (const key of KNOWN_KEYS) {
    const distance = editDistance(lower, key.toLowerCase());
    if (distance < bestDistance) {
      best = key;
      bestDistance = distance;
    }
  }
  // Close: a couple of edits, fewer for a short name (so "a" does not suggest "port").
  return bestDistance <= Math.min(3, Math.max(1, Math.floor(name.length / 3))) ? best : undefined;
}

/** A misspelled option would otherwise be silently ignored and its default used. */
function checkKnownKeys(options: object): void {
  for (const name of Object.keys(options)) {
    if (KNOWN_KEYS.includes(name)) continue;
    const near = nearestOption(name);
    throw new TypeError(
      `pairing-relay: unknown option "${name}"` +
        (near === undefined ? '' : ` (did you mean "${near}"?)`),
    );
  }
}

/**
 * Applies defaults and validates once, so a bad value fails at construction.
 * `sources` (not public) names settings the way a CLI user set them.
 */
export function resolveOptions(
  options: RelayOptions = {},
  sources: OptionSources = {},
): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('pairing-relay: options must be an object');
  }
  checkKnownKeys(options);
  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const key of TUNABLE_KEYS) {
    const value = options[key];
    if (value === undefined) continue;
    checkOption(key, value);
    out[key] = value;
  }
  const resolved = out as Tunables;
  const names = Object.fromEntries(TUNABLE_KEYS.map((key) => [key, sources[key] ?? key])) as Record<
    TunableKey,
    string
  >;
  checkScaleOut(resolved, names);
  if (options.mount !== undefined && typeof options.mount !== 'boolean') {
    throw new TypeError('pairing-relay: option "mount" must be a boolean');
  }
  if (options.mount === true && options.server !== undefined) {
    throw new TypeError(
      'pairing-relay: options "mount" (Bun) and "server" (node:http) exclude each other',
    );
  }
  return {
    ...resolved,
    server: options.server,
    logger: options.logger,
    mount: options.mount === true,
    names,
  };
}

/** Whether any Redis topology is configured (scale-out on). */
export function scaleOutConfigured(o: Tunables): boolean {
  return o.redisUrl !== '' || o.redisClusterNodes !== '' || o.redisSentinels !== '';
}

const TOPOLOGIES = [
  ['redisUrl', 'REDIS_URL'],
  ['redisClusterNodes', 'REDIS_CLUSTER_NODES'],
  ['redisSentinels', 'REDIS_SENTINELS'],
] as const;

/** `host:port` or, for the cluster's seeds, a redis[s]:// URL. */
function checkNodeList(key: 'redisClusterNodes' | 'redisSentinels', list: string): void {
  const entries = list.split(',').map((e) => e.trim());
  for (const entry of entries) {
    if (key === 'redisClusterNodes' && /^rediss?:\/\//.test(entry)) continue;
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/\[\]]+):([0-9]{1,5})$/.exec(entry);
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65_535) {
      throw new OptionTypeError(
        key,
        `must be a comma list of host:port${key === 'redisClusterNodes' ? ' or redis[s]:// URLs' : ''} (an entry is not)`,
      );
    }
  }
}

function urlPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

/** Cross-field checks; `names` says each other setting as the user set it. */
function checkScaleOut(o: Tunables, names: Readonly<Record<TunableKey, string>>): void {
  // Redis Cluster hashes only what is inside the first {...} of a key: a brace
  // in the prefix would move every key's hash tag.
  if (/[{}]/.test(o.redisPrefix)) {
    throw new OptionTypeError('redisPrefix', 'may not contain { or } (it would move the hash tag)');
  }
  const chosen = TOPOLOGIES.filter(([key]) => o[key] !== '');
  if (chosen.length > 1) {
    const [first, ...others] = chosen as unknown as Array<(typeof TOPOLOGIES)[number]>;
    throw new OptionTypeError(
      first![0],
      `and ${others.map(([key]) => names[key]).join(' and ')} are both set: choose one Redis topology`,
    );
  }
  if (o.redisClusterNodes !== '') checkNodeList('redisClusterNodes', o.redisClusterNodes);
  if (o.redisSentinels !== '') checkNodeList('redisSentinels', o.redisSentinels);
  if (o.redisPassword !== '' && urlPassword(o.redisUrl)) {
    throw new OptionTypeError(
      'redisPassword',
      `is set and ${names.redisUrl} holds a password too: set it one way`,
    );
  }
  if ((o.redisTlsCertFile === '') !== (o.redisTlsKeyFile === '')) {
    throw new OptionTypeError(
      o.redisTlsCertFile === '' ? 'redisTlsCertFile' : 'redisTlsKeyFile',
      `goes with ${o.redisTlsCertFile === '' ? names.redisTlsKeyFile : names.redisTlsCertFile}: set both or neither`,
    );
  }
  if (!scaleOutConfigured(o)) return;
  if (o.redisUrl === '') return checkSecret(o);
  // Never quote the URL: it may carry a password.
  if (!URL.canParse(o.redisUrl)) {
    throw new OptionTypeError('redisUrl', 'is not a URL (redis://host:6379 or rediss://host:6380)');
  }
  if (!/^rediss?:\/\//.test(o.redisUrl)) {
    throw new OptionTypeError('redisUrl', 'must start with redis:// or rediss://');
  }
  checkSecret(o);
}

function checkSecret(o: Tunables): void {
  if (o.redisSecret === '') {
    throw new OptionTypeError(
      'redisSecret',
      'is required for scale-out: 16+ characters, the same on every replica',
    );
  }
  if (o.redisSecret.length < MIN_REDIS_SECRET_LENGTH) {
    throw new OptionTypeError(
      'redisSecret',
      `is too short (${MIN_REDIS_SECRET_LENGTH}+ characters, the same on every replica)`,
    );
  }
}

const MIN_REDIS_SECRET_LENGTH = 16;

/**
 * Settings that do nothing without another: start() logs each as a warning
 * naming both, as the user set them.
 */
export function idleSettings(o: ResolvedOptions): string[] {
  const idle: string[] = [];
  if (!scaleOutConfigured(o) && o.redisSecret !== '') {
    idle.push(
      `${o.names.redisSecret} is set but no Redis is (${o.names.redisUrl}, ${o.names.redisClusterNodes} or ${o.names.redisSentinels}): the relay runs in memory and the secret is unused`,
    );
  }
  const tlsFiles = (
    ['redisTlsCaFile', 'redisTlsCertFile', 'redisTlsKeyFile', 'redisTlsServername'] as const
  ).filter((key) => o[key] !== '');
  if (scaleOutConfigured(o) && tlsFiles.length > 0 && !redisTlsOn(o)) {
    idle.push(
      `${tlsFiles.map((key) => o.names[key]).join(', ')} set but the Redis connection is not TLS (a redis:// URL or seed without ${o.names.redisTls}): use rediss:// or set ${o.names.redisTls}`,
    );
  }
  return idle;
}

/**
 * Whether the connections to Redis use TLS: a `rediss://` URL or seed, or
 * REDIS_TLS for a cluster or Sentinel. scale-out/connections.ts asks this
 * too, so the warning above and the connections cannot disagree.
 */
export function redisTlsOn(
  o: Pick<ResolvedOptions, 'redisUrl' | 'redisClusterNodes' | 'redisSentinels' | 'redisTls'>,
): boolean {
  if (o.redisClusterNodes !== '') {
    return (
      o.redisTls || o.redisClusterNodes.split(',').some((e) => e.trim().startsWith('rediss://'))
    );
  }
  if (o.redisSentinels !== '') return o.redisTls;
  return o.redisUrl.startsWith('rediss://');
}
