import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { trustsNoProxy } from '../../config/trust-proxy.js';
import { addressKey, clientKey } from '../../net/client-address.js';
import { pathOf, WS_PATH } from '../../http/routes.js';
import {
  admitUpgrade,
  NOT_FOUND_REFUSAL,
  type Refusal,
  type UpgradeRequest,
} from '../../http/upgrade-gate.js';
import {
  createMetricsOnlyHandler,
  createRequestHandler,
  headerOf,
  refuseUpgrade,
} from './node-http.js';
import type { Bound, Transport, TransportContext, TransportFactory } from '../transport.js';
import type { SocketKind } from '../../core/socket.js';
import { bindWs, relayWebSocketClass, WS_KIND, type RelayWebSocket } from './ws-socket.js';

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

/** node:http + ws: the transport on Node, and wherever a node:http server is given. */
export const NODE_TRANSPORT: TransportFactory = {
  sockets: WS_KIND as SocketKind<unknown>,
  create: nodeTransport,
};

async function nodeTransport(ctx: TransportContext): Promise<Transport> {
  const { relay, opts, trust, log } = ctx;
  // Loaded here, not at the top: a relay on Bun.serve never reads ws or node:http.
  const [{ WebSocket, WebSocketServer }, { createServer }] = await Promise.all([
    import('ws'),
    import('node:http'),
  ]);
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: opts.maxFrameBytes,
    WebSocket: relayWebSocketClass(WebSocket),
  });
  const { metrics } = ctx;
  const handleRequest = createRequestHandler(ctx.routes, metrics);
  const attached = opts.server !== undefined;
  const server: Server =
    opts.server ??
    httpServer(
      createServer,
      handleRequest,
      opts.maxSockets,
      trustsNoProxy(opts.trustProxy) ? opts.maxSocketsPerIp + PEER_HEADROOM : undefined,
    );
  const metricsServer =
    metrics !== undefined && !ctx.routes.metricsHere
      ? httpServer(createServer, createMetricsOnlyHandler(metrics), 0, undefined)
      : undefined;
  const onError = (err: Error & { code?: string }): void => {
    log.debug({ err: err.code ?? err.message }, 'socket error');
  };
  // Sockets waiting on a token check (an operator's check may be slow):
  // not yet ws's, so close() must drop them itself or server.close() waits.
  const held = new Set<Duplex>();
  const opened: Opened = (req, socket, head, key) =>
    wss.handleUpgrade(req, socket, head, (ws) =>
      bindWs(ws as RelayWebSocket, relay.attach(ws, key), onError),
    );
  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(req.url) !== WS_PATH) {
      // On a caller's server, other paths are the caller's.
      if (attached) return;
      relay.events.rejected('upgrade_not_found');
      return refuse(socket, NOT_FOUND_REFUSAL);
    }
    const upgrade = new NodeUpgrade(clientKey(req, trust), req, socket, head, opened);
    const answered = admitUpgrade(ctx.routes, upgrade, log);
    if (answered instanceof Promise) {
      upgrade.hold();
      held.add(socket);
      const release = (): boolean => held.delete(socket);
      answered.then(release, (err: unknown) => {
        release();
        socket.destroy();
        log.error({ err }, 'upgrade failed');
      });
    }
  };

  return {
    async listen(): Promise<Bound> {
      server.on('upgrade', handleUpgrade);
      if (!attached) await listen(server, opts.port, opts.host);
      else if (!server.listening) await listening(server);
      const bound: Bound = {
        host: (server.address() as AddressInfo).address,
        port: (server.address() as AddressInfo).port,
      };
      if (metricsServer !== undefined) {
        await listen(metricsServer, opts.metricsPort, opts.host);
        bound.metricsPort = (metricsServer.address() as AddressInfo).port;
      }
      return bound;
    },
    async close(): Promise<void> {
      wss.close();
      server.off('upgrade', handleUpgrade);
      for (const socket of held) socket.destroy();
      for (const owned of [attached ? undefined : server, metricsServer]) {
        if (owned === undefined || !owned.listening) continue;
        const closed = new Promise((resolve) => owned.close(resolve));
        owned.closeAllConnections();
        await closed;
      }
    },
  };
}

/** Hands an admitted upgrade to ws, which owns the socket from then on. */
type Opened = (req: IncomingMessage, socket: Duplex, head: Buffer, key: string) => void;

/**
 * One upgrade on its way through the gate: what the gate reads of the
 * request, and what ws needs to finish it. One object with its methods on
 * the prototype, in place of a request literal with a header closure and an
 * accept closure per upgrade.
 */
class NodeUpgrade implements UpgradeRequest<void> {
  /** Held through an asynchronous check: the socket has our error listener meanwhile. */
  private isHeld = false;

  constructor(
    readonly clientKey: string,
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
    private readonly opened: Opened,
  ) {}

  /** Only a token gate reads it. */
  get url(): string {
    return this.req.url ?? '/';
  }

  header(name: string): string | undefined {
    return headerOf(this.req, name);
  }

  /** The gate is waiting on a token check: until ws takes the socket over, its errors are ours. */
  hold(): void {
    this.isHeld = true;
    this.socket.on('error', destroySelf);
  }

  /** The gate's verdict: the refusal written, or the socket handed to ws. */
  answer(refusal: Refusal | undefined): void {
    const { socket } = this;
    if (refusal !== undefined) {
      if (!this.isHeld) socket.on('error', destroySelf);
      return refuseUpgrade(socket, refusal);
    }
    // A token check is asynchronous: the client may have gone meanwhile.
    if (socket.destroyed) return;
    // ws handles the socket's errors from here (its handleUpgrade listens at once).
    if (this.isHeld) socket.off('error', destroySelf);
    this.opened(this.req, socket, this.head, this.clientKey);
  }
}

function refuse(socket: Duplex, refusal: Refusal): void {
  socket.on('error', destroySelf);
  refuseUpgrade(socket, refusal);
}

/**
 * Not a closure: a listener made inside the upgrade handler would share its
 * scope, and with it keep the request, its headers and the head buffer alive
 * for as long as the socket lives (measured: 2.7 KB of heap per socket). Only
 * on a socket the relay holds without ws (a refusal being written, a token
 * being checked): ws listens for errors on the sockets it takes.
 */
function destroySelf(this: Duplex): void {
  this.destroy();
}

function httpServer(
  createServer: typeof import('node:http').createServer,
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
  // One shared close listener and the key in a WeakMap, not a closure per
  // socket: a once() wrapper, its closure and scope cost ~180 heap bytes per
  // connected socket (heap snapshot diff, 2,000 sockets, docs/benchmarks.md).
  // A listener bound to the key instead kept 24 bytes more than the WeakMap
  // (live heap, 4,000 sockets).
  const keyOf = new WeakMap<Socket, string>();
  function onPeerClose(this: Socket): void {
    const key = keyOf.get(this);
    if (key === undefined) return;
    const left = (open.get(key) ?? 1) - 1;
    if (left === 0) open.delete(key);
    else open.set(key, left);
  }
  server.on('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress) ?? 'unknown';
    const count = (open.get(key) ?? 0) + 1;
    if (count > limit) {
      socket.destroy();
      return;
    }
    open.set(key, count);
    keyOf.set(socket, key);
    socket.on('close', onPeerClose);
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
