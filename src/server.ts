import type { IncomingMessage, ServerResponse } from 'node:http';
import { memoryBackends, sharedBackends } from './core/backends.js';
import { createAccessGate } from './admission/access-gate.js';
import { compileTrust } from './net/client-address.js';
import { clientEcho } from './net/client-echo.js';
import { resolveOptions, type RelayOptions } from './config/options.js';
import { NO_EVENTS } from './observe/events.js';
import { createLogger, stdoutIsTerminal } from './observe/logger.js';
import { createMetrics, type Metrics } from './observe/metrics.js';
import { Relay } from './core/relay.js';
import type { RouteContext } from './http/routes.js';
import { bunTransport } from './transport/bun/bun.js';
import { nodeTransport } from './transport/node/node.js';
import { createRequestHandler } from './transport/node/node-http.js';
import type { Bound, Transport, TransportContext } from './transport/transport.js';
import { VERSION } from './version.js';
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
  /** Listens (or, attached to a server, starts serving /ws on it). */
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

// Sockets normally answer a close frame at once; this only bounds a dead one.
const CLOSE_GRACE_MS = 2_000;

/**
 * Builds a relay. Validates every option now (throws TypeError/RangeError),
 * touches no global state, reads no environment, installs no signal handler.
 */
export function createRelayServer(options: RelayOptions = {}): RelayServer {
  const opts = resolveOptions(options);
  const trust = compileTrust(opts.trustProxy);
  const format =
    opts.logFormat === 'auto' ? (stdoutIsTerminal() ? 'pretty' : 'json') : opts.logFormat;
  const log = opts.logger ?? createLogger(opts.logLevel, format);
  const access = createAccessGate(opts.accessTokens, opts.accessTokensFile, log);
  const scaleOut = opts.redisUrl !== '';
  const metrics: Metrics | undefined = opts.metrics
    ? createMetrics(
        {
          sessions: () => relay.registry.size,
          sockets: () => relay.clients.size,
          bootstrapInFlight: () => relay.bootstrapInFlight,
          cluster: () => relay.clusterStatus,
        },
        scaleOut,
      )
    : undefined;
  const backends = scaleOut ? sharedBackends(opts, log) : memoryBackends(opts);
  const relay: Relay = new Relay(opts, log, metrics?.events ?? NO_EVENTS, backends);
  const routes: RouteContext = {
    relay,
    version: VERSION,
    readyDuringStoreOutage: opts.readyDuringRedisOutage,
    metricsHere: metrics !== undefined && opts.metricsPort === 0,
    access,
    clientEcho: (remoteAddress, forwardedFor) => clientEcho(remoteAddress, forwardedFor, trust),
  };
  const context: TransportContext = { relay, opts, trust, log, routes, metrics };
  const handleRequest = createRequestHandler(
    routes,
    routes.metricsHere ? metrics?.handle : undefined,
  );
  let transport: Transport | undefined;
  let address: RelayAddress | null = null;
  let started = false;
  let stopping: Promise<void> | null = null;

  async function start(): Promise<RelayAddress> {
    if (started || stopping !== null) throw new Error('pairing-relay: start() can be called once');
    started = true;
    await relay.start();
    transport = await createTransport(context);
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
        scaleOut: scaleOut ? 'redis' : 'off',
        accessTokens: access === undefined ? 'off' : 'on',
        version: VERSION,
      },
      'listening',
    );
    return address;
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      relay.draining = true;
      relay.goAway();
      await waitFor(() => relay.clients.size === 0, CLOSE_GRACE_MS);
      await relay.dispose();
      await transport?.close();
      if (started) log.info('stopped');
    })();
    return stopping;
  }

  function mounted(): NonNullable<Transport['mount']> {
    if (!opts.mount || transport?.mount === undefined) {
      throw new Error(
        'pairing-relay: fetch/websocket are for mount: true under Bun, after start()',
      );
    }
    return transport.mount;
  }

  async function drain(): Promise<void> {
    if (stopping !== null) return stopping;
    relay.draining = true;
    log.info({ sessions: relay.registry.size, drainMs: opts.drainMs }, 'draining');
    const finished = await waitFor(() => relay.inFlight === 0, opts.drainMs);
    log.info({ finished, sessionsLeft: relay.registry.size }, 'drain window over');
    return stop();
  }

  return {
    start,
    stop,
    drain,
    handleRequest,
    get address() {
      return address;
    },
    get sessions() {
      return relay.registry.size;
    },
    get connections() {
      return relay.clients.size;
    },
    get draining() {
      return relay.draining;
    },
    async reloadAccessTokens() {
      return access?.reload();
    },
    fetch(req: Request, server: unknown) {
      return (mounted().fetch as RelayServer['fetch'])(req, server);
    },
    get websocket() {
      return opts.mount ? transport?.mount?.websocket : undefined;
    },
  };
}

/**
 * Bun.serve under Bun (no ws, no node:http loaded), node:http + ws on Node
 * and whenever the caller hands over a node:http server.
 */
async function createTransport(context: TransportContext): Promise<Transport> {
  const onBun = 'Bun' in globalThis;
  if (context.opts.mount && !onBun) {
    throw new Error(
      'pairing-relay: "mount" needs Bun; on Node, pass your node:http server as "server"',
    );
  }
  // Both are cheap to load: each loads its runtime's server (ws, node:http)
  // only when it is made.
  if (context.opts.server === undefined && onBun) return bunTransport(context);
  return await nodeTransport(context);
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
