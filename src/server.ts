import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessGate } from './admission/access-gate.js';
import {
  createAccessGate,
  loadAccessTokens,
  type AccessTokenSource,
} from './admission/access-tokens.js';
import {
  idleSettings,
  resolveOptions,
  scaleOutConfigured,
  type Logger,
  type OptionSources,
  type RelayOptions,
  type ResolvedOptions,
} from './config/options.js';
import { compileTrust, type TrustFn } from './config/trust-proxy.js';
import { memoryBackends } from './core/backends.js';
import type { Clock } from './core/clock.js';
import { Relay } from './core/relay.js';
import type { RouteContext } from './http/routes.js';
import { clientEcho } from './net/client-echo.js';
import { NO_EVENTS } from './observe/events.js';
import { createLogger } from './observe/logger.js';
import type { Metrics } from './observe/metrics.js';
import { warningsFor } from './observe/warnings.js';
import { BUN_TRANSPORT } from './transport/bun/bun.js';
import { NODE_TRANSPORT } from './transport/node/node.js';
import { createRequestHandler } from './transport/node/node-http.js';
import type { Bound, Transport, TransportFactory } from './transport/transport.js';
import { RUNTIME, VERSION } from './version.js';
import { waitFor } from './wait.js';

export interface RelayAddress {
  /** The address actually bound. */
  host: string;
  port: number;
  /** The pairing WebSocket URL, e.g. ws://127.0.0.1:3001/ws. */
  url: string;
  healthUrl: string;
}

export interface RelayServer {
  /**
   * Listens (or, attached to a server, starts serving /ws on it). With scale-out,
   * it listens and answers /health before Redis answers anything, and resolves
   * once the cluster is joined (at most 5x redisTimeoutMs, or stop()).
   */
  start(): Promise<RelayAddress>;
  /** Closes everything at once: `going_away` + close 1001 to each socket, every timer cleared. */
  stop(): Promise<void>;
  /** Graceful: /ready 503, no new upgrades, live sessions get `drainMs` to finish, then stop(). */
  drain(): Promise<void>;
  /** For attaching: serves /health and /ready (404/405 otherwise) on a server you own. */
  readonly handleRequest: (req: IncomingMessage, res: ServerResponse) => void;
  readonly address: RelayAddress | null;
  readonly sessions: number;
  readonly connections: number;
  readonly draining: boolean;
  /**
   * Re-reads `accessTokensFile` (the CLI calls it on SIGHUP). Resolves with
   * the token count, or undefined when there is no file or it could not be
   * read (the old tokens stay, and an error is logged).
   */
  reloadAccessTokens(): Promise<{ tokens: number } | undefined>;
  /**
   * Bun, with `mount: true`, after start(): give these to your own Bun.serve
   * (`fetch` answers the relay's paths, 404 otherwise; route yours first).
   */
  readonly fetch: (
    req: Request,
    server: unknown,
  ) => Response | undefined | Promise<Response | undefined>;
  /** Undefined until start(), and without `mount`. */
  readonly websocket: unknown;
}

/** What the host gives the relay besides options: not public API (tests, other runtimes). */
export interface RelaySeams {
  /** Every deadline and timestamp of the core; the system clock when left out. */
  clock?: Clock;
  /** The flag or variable each setting came from, so messages name what the user set (the CLI). */
  sources?: OptionSources;
  /** Called once listening, before any cluster join (the CLI prints its banner then). */
  onListening?: (address: RelayAddress) => void;
}

// Sockets normally answer a close frame at once; this only bounds a dead one.
const CLOSE_GRACE_MS = 2_000;

/**
 * Builds a relay. Validates every option now (throws TypeError/RangeError),
 * touches no global state, reads no environment, installs no signal handler.
 * Everything that loads or connects (the logger's stream, scale-out, metrics,
 * the server) is built by start().
 */
export function createRelayServer(options: RelayOptions = {}, seams: RelaySeams = {}): RelayServer {
  const opts = resolveOptions(options, seams.sources);
  const trust = compileTrust(opts.trustProxy);
  const scaleOut = scaleOutConfigured(opts);
  // Reads a tokens file now: a bad one is a configuration error, like a bad option.
  const tokens = loadAccessTokens(opts.accessTokens, opts.accessTokensFile);
  let running: Running | undefined;
  let address: RelayAddress | null = null;
  let starting: Promise<unknown> | undefined;
  let stopping: Promise<void> | null = null;

  function start(): Promise<RelayAddress> {
    if (starting !== undefined || stopping !== null) {
      return Promise.reject(new Error('pairing-relay: start() can be called once'));
    }
    const listened = listen();
    starting = listened;
    // Listening (and /health) never waits on DNS or Redis: a liveness probe or a
    // supervisor would take a slow Redis for a hung process. The cluster is
    // joined after; /ready says degraded until it is, and start() resolves once
    // joined (or its wait is over: Redis down, or stop()).
    return listened.then(async (address) => {
      await running?.relay.start();
      return address;
    });
  }

  async function listen(): Promise<RelayAddress> {
    running = await assemble(opts, trust, tokens, seams);
    const { transport, log, metrics, access } = running;
    for (const problem of idleSettings(opts)) log.warn(problem);
    const bound = await transport.listen();
    address = describe(bound);
    const metricsUrl =
      bound.metricsPort !== undefined
        ? `http://${urlHost(opts.host)}:${bound.metricsPort}/metrics`
        : metrics !== undefined
          ? address.healthUrl.replace(/\/health$/, '/metrics')
          : undefined;
    log.info(
      {
        url: address.url,
        health: address.healthUrl,
        metrics: metricsUrl,
        // Which Redis topology, so a start-up line tells a misread setting apart.
        scaleOut: !scaleOut
          ? 'off'
          : opts.redisClusterNodes !== ''
            ? 'redis-cluster'
            : opts.redisSentinels !== ''
              ? 'redis-sentinel'
              : 'redis',
        accessTokens: access === undefined ? 'off' : 'on',
        version: VERSION,
        runtime: RUNTIME,
      },
      'listening',
    );
    seams.onListening?.(address);
    return address;
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      // A stop during start waits for the listening to finish (or fail), then undoes
      // it; a cluster join still waiting ends with the dispose.
      await starting?.catch(() => undefined);
      if (running === undefined) return;
      const { relay, transport, log } = running;
      relay.beginDrain();
      relay.goAway();
      await waitFor(() => relay.clients.size === 0, CLOSE_GRACE_MS);
      await relay.dispose();
      await transport.close();
      log.info('stopped');
    })();
    return stopping;
  }

  function mounted(): NonNullable<Transport['mount']> {
    const mount = running?.transport.mount;
    if (!opts.mount || mount === undefined) {
      throw new Error(
        'pairing-relay: fetch/websocket are for mount: true under Bun, after start()',
      );
    }
    return mount;
  }

  async function drain(): Promise<void> {
    if (stopping !== null || running === undefined) return stop();
    const { relay, log } = running;
    relay.beginDrain();
    log.info({ sessions: relay.sessionStore.size, drainMs: opts.drainMs }, 'draining');
    const finished = await waitFor(() => relay.inFlight === 0, opts.drainMs);
    log.info({ finished, sessionsLeft: relay.sessionStore.size }, 'drain window over');
    return stop();
  }

  return {
    start,
    stop,
    drain,
    handleRequest(req, res) {
      if (running === undefined) {
        res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ status: 'starting' }));
        return;
      }
      running.handleRequest(req, res);
    },
    get address() {
      return address;
    },
    get sessions() {
      return running?.relay.sessionStore.size ?? 0;
    },
    get connections() {
      return running?.relay.clients.size ?? 0;
    },
    get draining() {
      return running?.relay.draining ?? stopping !== null;
    },
    async reloadAccessTokens() {
      return running?.access?.reload();
    },
    fetch(req: Request, server: unknown) {
      return (mounted().fetch as RelayServer['fetch'])(req, server);
    },
    get websocket() {
      return opts.mount ? running?.transport.mount?.websocket : undefined;
    },
  };
}

/** What start() builds: the parts of one running relay. */
interface Running {
  relay: Relay;
  transport: Transport;
  log: Logger;
  metrics: Metrics | undefined;
  access: AccessGate | undefined;
  handleRequest: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * The composition root: the logger, the stores (in memory, or the scale-out
 * plug-in, loaded only when it is configured), metrics (only when asked
 * for), the transport of this runtime, and the relay core between them.
 */
async function assemble(
  opts: ResolvedOptions,
  trust: TrustFn,
  tokens: AccessTokenSource,
  seams: RelaySeams,
): Promise<Running> {
  const log = opts.logger ?? (await createLogger(opts.logLevel, opts.logFormat));
  const access = createAccessGate(tokens, log);
  const backends = !scaleOutConfigured(opts)
    ? memoryBackends(opts)
    : (await import('./scale-out/index.js')).sharedBackends(opts, log);
  let relay: Relay | undefined;
  const metrics: Metrics | undefined = opts.metrics
    ? (await import('./observe/metrics.js')).createMetrics(
        {
          sessions: () => relay?.sessionStore.size ?? 0,
          sockets: () => relay?.clients.size ?? 0,
          bootstrapInFlight: () => relay?.bootstrapInFlight ?? 0,
          cluster: () => relay?.clusterStatus,
        },
        scaleOutConfigured(opts),
      )
    : undefined;
  const factory = transportFor(opts);
  const events = metrics?.events ?? NO_EVENTS;
  relay = new Relay({
    opts,
    log,
    events,
    warnings: warningsFor(opts, log, events),
    backends,
    sockets: factory.sockets,
    clock: seams.clock,
  });
  const routes: RouteContext = {
    relay,
    version: VERSION,
    runtime: RUNTIME,
    readyDuringStoreOutage: opts.readyDuringRedisOutage,
    metricsHere: metrics !== undefined && opts.metricsPort === 0,
    access,
    clientEcho: (remoteAddress, forwardedFor) => clientEcho(remoteAddress, forwardedFor, trust),
  };
  const transport = await factory.create({ relay, opts, trust, log, routes, metrics });
  const handleRequest = createRequestHandler(routes, routes.metricsHere ? metrics : undefined);
  return { relay, transport, log, metrics, access, handleRequest };
}

/**
 * Bun.serve under Bun (no ws, no node:http loaded), node:http + ws on Node
 * and whenever the caller hands over a node:http server.
 */
function transportFor(opts: ResolvedOptions): TransportFactory {
  const onBun = 'Bun' in globalThis;
  if (opts.mount && !onBun) {
    throw new Error(
      'pairing-relay: "mount" needs Bun; on Node, pass your node:http server as "server"',
    );
  }
  return opts.server === undefined && onBun ? BUN_TRANSPORT : NODE_TRANSPORT;
}

/** A host as it can appear in a URL that works as-is (a wildcard bind is reachable on loopback). */
function urlHost(bound: string): string {
  if (bound === '0.0.0.0' || bound === '::') return '127.0.0.1';
  return bound.includes(':') ? `[${bound}]` : bound;
}

function describe(bound: Bound): RelayAddress {
  const shown = urlHost(bound.host);
  return {
    host: bound.host,
    port: bound.port,
    url: `ws://${shown}:${bound.port}/ws`,
    healthUrl: `http://${shown}:${bound.port}/health`,
  };
}
