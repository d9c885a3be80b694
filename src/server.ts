import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { memoryBackends, sharedBackends } from './backends.js';
import { addressKey, compileTrust, trustsNoProxy } from './client-address.js';
import { resolveOptions, type RelayOptions } from './config.js';
import { NO_EVENTS } from './events.js';
import {
  createMetricsOnlyHandler,
  createRequestHandler,
  createUpgradeHandler,
  WS_PATH,
} from './http.js';
import { createLogger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Relay } from './relay.js';
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
  const log = opts.logger ?? createLogger(opts.logLevel);
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
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: opts.maxFrameBytes,
  });
  const ownMetricsPort = metrics !== undefined && opts.metricsPort !== 0;
  const handleRequest = createRequestHandler(
    relay,
    VERSION,
    opts.readyDuringRedisOutage,
    ownMetricsPort ? undefined : metrics?.handle,
  );
  const metricsServer =
    metrics !== undefined && ownMetricsPort
      ? httpServer(createMetricsOnlyHandler(metrics.handle), 0, undefined)
      : undefined;
  const attached = opts.server !== undefined;
  const server: Server =
    opts.server ??
    httpServer(
      handleRequest,
      opts.maxSockets,
      trustsNoProxy(opts.trustProxy) ? opts.maxSocketsPerIp + PEER_HEADROOM : undefined,
    );
  const handleUpgrade = createUpgradeHandler(relay, wss, trust, log, attached);
  let address: RelayAddress | null = null;
  let started = false;
  let stopping: Promise<void> | null = null;

  async function start(): Promise<RelayAddress> {
    if (started || stopping !== null) throw new Error('pairing-relay: start() can be called once');
    started = true;
    await relay.start();
    server.on('upgrade', handleUpgrade);
    if (!attached) await listen(server, opts.port, opts.host);
    else if (!server.listening) await listening(server);
    if (metricsServer !== undefined) await listen(metricsServer, opts.metricsPort, opts.host);
    address = describe(server);
    const metricsUrl =
      metricsServer !== undefined
        ? `http://${urlHost(opts.host)}:${(metricsServer.address() as AddressInfo).port}/metrics`
        : metrics !== undefined
          ? address.healthUrl.replace(/\/health$/, '/metrics')
          : undefined;
    log.info(
      {
        url: address.url,
        health: address.healthUrl,
        metrics: metricsUrl,
        scaleOut: scaleOut ? 'redis' : 'off',
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
      wss.close();
      server.off('upgrade', handleUpgrade);
      for (const owned of [attached ? undefined : server, metricsServer]) {
        if (owned === undefined || !owned.listening) continue;
        const closed = new Promise((resolve) => owned.close(resolve));
        owned.closeAllConnections();
        await closed;
      }
      if (started) log.info('stopped');
    })();
    return stopping;
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
  };
}

// A relay's HTTP traffic is tiny: probes and upgrade requests. Cut slow
// (slowloris) clients off early, checking every second rather than Node's
// default 30 s, and bound raw connections, upgraded or not.
const HTTP_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 15_000,
  connectionsCheckingInterval: 1_000,
};
const HTTP_HEADROOM = 1_024;
// Connections one address may hold beyond its WebSocket cap (health checks,
// upgrades in progress) before it is refused at accept.
const PEER_HEADROOM = 16;

function httpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  maxSockets: number,
  perPeerLimit: number | undefined,
): Server {
  const server = createServer(HTTP_TIMEOUTS, handler);
  server.maxConnections = maxSockets + HTTP_HEADROOM;
  if (perPeerLimit !== undefined) limitConnectionsPerPeer(server, perPeerLimit);
  return server;
}

/**
 * The per-address WebSocket cap applies at upgrade; this one applies at
 * accept, so half-sent requests from one address cannot fill the connection
 * table. Only without a trusted proxy: behind one, every peer is the proxy.
 */
function limitConnectionsPerPeer(server: Server, limit: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress) ?? 'unknown';
    const count = (open.get(key) ?? 0) + 1;
    if (count > limit) {
      socket.destroy();
      return;
    }
    open.set(key, count);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left === 0) open.delete(key);
      else open.set(key, left);
    });
  });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** An attached server the caller listens on: wait for it, and fail (not hang) if it cannot. */
function listening(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
  });
}

/** A host as it can appear in a URL that works as-is (a wildcard bind is reachable on loopback). */
function urlHost(bound: string): string {
  if (bound === '0.0.0.0' || bound === '::') return '127.0.0.1';
  return bound.includes(':') ? `[${bound}]` : bound;
}

function describe(server: Server): RelayAddress {
  const info = server.address() as AddressInfo;
  const shown = urlHost(info.address);
  return {
    host: info.address,
    port: info.port,
    url: `ws://${shown}:${info.port}${WS_PATH}`,
    healthUrl: `http://${shown}:${info.port}/health`,
  };
}
