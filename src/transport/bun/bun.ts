import { clientKeyOf } from '../../net/client-address.js';
import type { Client } from '../../core/client.js';
import { withHealthEcho, type RequestReader } from '../../http/health-echo.js';
import { metricsReply } from '../../http/metrics-answer.js';
import { JSON_HEADERS, reply, type Reply } from '../../http/reply.js';
import { pathOf, route, WS_PATH } from '../../http/routes.js';
import {
  admitUpgrade,
  NOT_FOUND_REFUSAL,
  refusalReply,
  type Refusal,
  type UpgradeRequest,
} from '../../http/upgrade-gate.js';
import type { BunGlobal, BunServer, BunServerWebSocket, BunWebSocketHandler } from './bun-api.js';
import type { SocketKind } from '../../core/socket.js';
import type { Bound, Transport, TransportContext, TransportFactory } from '../transport.js';
import type { TrustFn } from '../../config/trust-proxy.js';

const OPEN = 1;
// Bun.serve's own idle limit for HTTP connections (seconds): a request still
// arriving after this is cut off (slowloris).
const HTTP_IDLE_S = 10;

/**
 * What Bun keeps with each WebSocket (its `data`): the client key from the
 * upgrade, then from open on the core's client for it. No object of our own
 * per connection besides the client.
 */
type Data = string | Client;
type BunWs = BunServerWebSocket<Data>;

/** Bun's ServerWebSockets, for the core. */
const BUN_KIND: SocketKind<BunWs> = {
  isOpen: (ws) => ws.readyState === OPEN,
  // sendText: a frame held as bytes (a Buffer) must still go out as text.
  send: (ws, frame) => {
    ws.sendText(typeof frame === 'string' ? frame : frame.toString());
  },
  // Bun enforces the slow-reader cap itself (backpressureLimit below).
  bufferedAmount: () => 0,
  close: (ws, code, reason) => ws.close(code, reason),
  terminate: (ws) => ws.terminate(),
  ping: (ws) => {
    ws.ping();
  },
  // Bun cannot stop reading one socket: the core's backlog cap applies instead.
  pause: () => false,
  resume: () => undefined,
};

// A Response copies a Headers object far faster than it builds one from a
// plain object (a third of the time, measured): most replies share these.
// Made at first use: on Node, merely touching Headers loads undici.
let sharedJsonHeaders: Headers | undefined;

function respond(answer: Reply, method: string): Response {
  return new Response(method === 'HEAD' ? null : answer.body, {
    status: answer.status,
    headers:
      answer.headers === JSON_HEADERS
        ? (sharedJsonHeaders ??= new Headers(JSON_HEADERS))
        : answer.headers,
  });
}

/** How /health's echo reads a Bun request; the peer's address is the server's to say. */
const BUN_READER: RequestReader<Request, BunServer> = {
  header: (req, name) => req.headers.get(name) ?? undefined,
  peerAddress: (req, server) => server.requestIP(req)?.address,
};

const NOT_FOUND = reply(404, { error: 'not_found' });

/** The path of a request URL ("http://host:port/ws?x" → "/ws") without building a URL object. */
function pathFromUrl(url: string): string {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  return slash === -1 ? '/' : pathOf(url.slice(slash));
}

/**
 * An upgrade as the gate reads it (http/upgrade-gate.ts): one object, its
 * getter and method on the prototype, and no closure on the synchronous
 * path. An object literal with a getter and closures made about five more
 * heap objects per upgrade, garbage that an idle relay's RSS still held
 * (bun:jsc heapStats, docs/benchmarks.md).
 */
class BunUpgrade implements UpgradeRequest<Response | undefined> {
  readonly clientKey: string;

  constructor(
    private readonly req: Request,
    private readonly server: BunServer,
    trust: TrustFn,
  ) {
    this.clientKey = clientKeyOf(this, BunUpgrade.peer, req.headers.get('x-forwarded-for'), trust);
  }

  /** The socket peer: a system call under Bun, so clientKeyOf asks only when it needs it. */
  private static peer(upgrade: BunUpgrade): string | undefined {
    return upgrade.server.requestIP(upgrade.req)?.address;
  }

  /** Only a token gate reads it, and Bun builds the string on demand. */
  get url(): string {
    return this.req.url;
  }

  header(name: string): string | undefined {
    return this.req.headers.get(name) ?? undefined;
  }

  /** The gate's verdict: the refusal, or the socket. */
  answer(refusal: Refusal | undefined): Response | undefined {
    const { req } = this;
    if (refusal !== undefined) return respond(refusalReply(refusal), req.method);
    if (this.server.upgrade<Data>(req, { data: this.clientKey })) return undefined;
    return respond(reply(400, { error: 'bad_upgrade' }), req.method);
  }
}

/**
 * Bun.serve with its native WebSockets: no ws and no node:http on this path.
 * Every rule maps onto Bun's own mechanisms: the frame cap is
 * maxPayloadLength (close 1009), the slow-reader cap is the backpressure
 * limit (Bun closes the socket itself), the socket caps and
 * client key are decided in fetch() before upgrade() with the same
 * X-Forwarded-For rules, heartbeat and idle are the core's own (Bun's are
 * off), and a drain ends with server.stop().
 */
function bunTransport(ctx: TransportContext): Transport {
  const { relay, opts, trust, log } = ctx;
  const Bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  const metrics = ctx.metrics;
  const metricsResponse = async (method: string): Promise<Response> =>
    respond(metrics === undefined ? NOT_FOUND : await metricsReply(metrics, method), method);

  const websocket: BunWebSocketHandler<Data> = {
    maxPayloadLength: opts.maxFrameBytes,
    // The slow-reader cap: past this Bun closes the socket rather than queue
    // more (BUN_KIND reports no buffered amount, so the core leaves it to Bun).
    backpressureLimit: opts.maxBufferedBytes,
    closeOnBackpressureLimit: true,
    // Idle and heartbeat are the core's rules, the same on every runtime.
    idleTimeout: 0,
    sendPings: false,
    perMessageDeflate: false,
    open(ws) {
      ws.data = relay.attach(ws, ws.data as string);
    },
    message(ws, message) {
      const client = ws.data;
      if (typeof client === 'string') return;
      client.frame(typeof message === 'string' ? message : Buffer.from(message).toString());
    },
    pong(ws) {
      const client = ws.data;
      if (typeof client !== 'string') client.pong();
    },
    close(ws) {
      const client = ws.data;
      if (typeof client !== 'string') client.gone();
    },
  };

  const fetch = (
    req: Request,
    server: BunServer,
  ): Response | undefined | Promise<Response | undefined> => {
    const method = req.method;
    const path = pathFromUrl(req.url);
    const upgrade = asksUpgrade(req);
    if (upgrade && path !== WS_PATH) return upgradeNotFound(method);
    const answer = route(ctx.routes, method, path, upgrade);
    if (answer === 'metrics') return metricsResponse(method);
    if (answer !== 'websocket') {
      return path === '/health' ? healthResponse(req, server, answer) : respond(answer, method);
    }
    return openSocket(req, server);
  };

  /** /health, with the x-relay-client echo when asked (http/health-echo.ts). */
  const healthResponse = (req: Request, server: BunServer, answer: Reply): Response =>
    respond(withHealthEcho(ctx.routes, answer, BUN_READER, req, server), req.method);

  /** A WebSocket upgrade on the relay's path: the gate and caps first, then the socket. */
  const openSocket = (
    req: Request,
    server: BunServer,
  ): Response | undefined | Promise<Response | undefined> => {
    return admitUpgrade(ctx.routes, new BunUpgrade(req, server, trust), log);
  };

  const asksUpgrade = (req: Request): boolean =>
    req.headers.get('upgrade')?.toLowerCase() === 'websocket';

  /** An upgrade off the relay's path: refused, as on Node, and counted. */
  const upgradeNotFound = (method: string): Response => {
    relay.events.rejected('upgrade_not_found');
    return respond(refusalReply(NOT_FOUND_REFUSAL), method);
  };

  // The two busiest paths, matched by Bun itself: no URL string to build and
  // cut up. Everything else (other methods, paths, a mounted relay) is fetch's.
  const health = (req: Request, server: BunServer): Response =>
    asksUpgrade(req)
      ? upgradeNotFound(req.method)
      : healthResponse(req, server, route(ctx.routes, req.method, '/health', false) as Reply);
  const routes = {
    [WS_PATH]: {
      GET: (req: Request, server: BunServer) =>
        req.headers.get('upgrade')?.toLowerCase() === 'websocket'
          ? openSocket(req, server)
          : respond(route(ctx.routes, 'GET', WS_PATH, false) as Reply, 'GET'),
    },
    '/health': { GET: health, HEAD: health },
  };

  let server: BunServer | undefined;
  let metricsServer: BunServer | undefined;
  return {
    mount: { fetch, websocket },
    async listen(): Promise<Bound> {
      // Mounted: the caller's Bun.serve listens and hands us its requests.
      if (opts.mount) return { host: opts.host, port: opts.port };
      server = Bun.serve<Data>({
        port: opts.port,
        hostname: opts.host,
        idleTimeout: HTTP_IDLE_S,
        fetch,
        routes,
        websocket,
        error: (err: Error) => {
          log.error({ err }, 'request handler failed');
          return respond(reply(500, { error: 'internal' }), 'GET');
        },
      });
      const bound: Bound = { host: server.hostname, port: server.port };
      if (metrics !== undefined && !ctx.routes.metricsHere) {
        metricsServer = Bun.serve({
          port: opts.metricsPort,
          hostname: opts.host,
          idleTimeout: HTTP_IDLE_S,
          fetch: (req) =>
            pathFromUrl(req.url) === '/metrics'
              ? metricsResponse(req.method)
              : respond(NOT_FOUND, req.method),
        });
        bound.metricsPort = metricsServer.port;
      }
      return bound;
    },
    async close(): Promise<void> {
      await Promise.all([server?.stop(true), metricsServer?.stop(true)]);
    },
  };
}

/** Bun.serve: the transport under Bun, unless a node:http server is given. */
export const BUN_TRANSPORT: TransportFactory = {
  sockets: BUN_KIND as SocketKind<unknown>,
  create: bunTransport,
};
