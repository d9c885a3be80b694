import { clientKeyOf } from '../client-address.js';
import type { Client } from '../connection.js';
import { CLIENT_ECHO_HEADER } from '../client-echo.js';
import {
  admitUpgrade,
  pathOf,
  reply,
  route,
  WS_PATH,
  type Refusal,
  type Reply,
  type UpgradeRequest,
} from '../routes.js';
import type { BunGlobal, BunServer, BunServerWebSocket, BunWebSocketHandler } from './bun-api.js';
import type { Socket } from './socket.js';
import type { Bound, Transport, TransportContext } from './transport.js';

const OPEN = 1;
// Bun.serve's own idle limit for HTTP connections (seconds): a request still
// arriving after this is cut off (slowloris).
const HTTP_IDLE_S = 10;

/**
 * What Bun keeps with each WebSocket (its `data`), and the core's Socket for
 * it: one object per connection. The client key comes from the upgrade; the
 * ServerWebSocket and the core's client arrive at open.
 */
class BunSocket implements Socket {
  ws: BunServerWebSocket<BunSocket> | null = null;
  client: Client | null = null;

  constructor(readonly key: string) {}

  get isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === OPEN;
  }

  get bufferedAmount(): number {
    return this.ws?.getBufferedAmount() ?? 0;
  }

  send(frame: string | Buffer): void {
    // A Uint8Array would go out as a binary frame; the protocol is text.
    this.ws?.send(typeof frame === 'string' ? frame : frame.toString());
  }

  close(code: number, reason: string): void {
    this.ws?.close(code, reason);
  }

  terminate(): void {
    this.ws?.terminate();
  }

  ping(): void {
    this.ws?.ping();
  }

  /** Bun cannot stop reading one socket: the core's backlog cap applies instead. */
  pause(): boolean {
    return false;
  }

  resume(): void {}
}

function respond(answer: Reply, method: string): Response {
  return new Response(method === 'HEAD' ? null : answer.body, {
    status: answer.status,
    headers: answer.headers,
  });
}

/** The path of a request URL ("http://host:port/ws?x" → "/ws") without building a URL object. */
function pathFromUrl(url: string): string {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  return slash === -1 ? '/' : pathOf(url.slice(slash));
}

/**
 * Bun.serve with its native WebSockets: no ws and no node:http on this path.
 * Every rule maps onto Bun's own mechanisms: the frame cap is
 * maxPayloadLength (close 1009), the slow-reader cap is the backpressure
 * limit (and the core's check of the buffered amount), the socket caps and
 * client key are decided in fetch() before upgrade() with the same
 * X-Forwarded-For rules, heartbeat and idle are the core's own (Bun's are
 * off), and a drain ends with server.stop().
 */
export function bunTransport(ctx: TransportContext): Transport {
  const { relay, opts, trust, log } = ctx;
  const Bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  const metrics = ctx.metrics;
  const metricsResponse = async (method: string): Promise<Response> => {
    if (metrics === undefined) return respond(reply(404, { error: 'not_found' }), method);
    if (method !== 'GET' && method !== 'HEAD') {
      return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
    }
    const { contentType, text } = await metrics.render();
    return new Response(method === 'HEAD' ? null : text, {
      headers: { 'content-type': contentType, 'cache-control': 'no-store' },
    });
  };

  const websocket: BunWebSocketHandler<BunSocket> = {
    maxPayloadLength: opts.maxFrameBytes,
    // Past this Bun closes the socket rather than drop frames; the core also
    // cuts off a reader whose buffered amount passes the cap.
    backpressureLimit: opts.maxBufferedBytes,
    closeOnBackpressureLimit: true,
    // Idle and heartbeat are the core's rules, the same on every runtime.
    idleTimeout: 0,
    sendPings: false,
    perMessageDeflate: false,
    open(ws) {
      const socket = ws.data;
      socket.ws = ws;
      socket.client = relay.attach(socket, socket.key);
    },
    message(ws, message) {
      ws.data.client?.frame(
        typeof message === 'string' ? message : Buffer.from(message).toString(),
      );
    },
    pong(ws) {
      ws.data.client?.pong();
    },
    close(ws) {
      ws.data.client?.gone();
    },
  };

  const fetch = (
    req: Request,
    server: BunServer,
  ): Response | undefined | Promise<Response | undefined> => {
    const method = req.method;
    const path = pathFromUrl(req.url);
    const upgrade = req.headers.get('upgrade')?.toLowerCase() === 'websocket';
    if (upgrade && path !== WS_PATH) {
      relay.events.rejected('upgrade_not_found');
      return respond(reply(404, { error: 'not_found' }, { connection: 'close' }), method);
    }
    const answer = route(ctx.routes, method, path, upgrade);
    if (answer === 'metrics') return metricsResponse(method);
    if (answer !== 'websocket') {
      if (path !== '/health' || answer.status !== 200) return respond(answer, method);
      const echo = ctx.routes.clientEcho(
        server.requestIP(req)?.address,
        req.headers.get('x-forwarded-for') ?? undefined,
      );
      return respond(
        { ...answer, headers: { ...answer.headers, [CLIENT_ECHO_HEADER]: echo } },
        method,
      );
    }
    const key = clientKeyOf(
      server.requestIP(req)?.address,
      req.headers.get('x-forwarded-for'),
      trust,
    );
    const request: UpgradeRequest = {
      clientKey: key,
      url: req.url,
      header: (name) => req.headers.get(name) ?? undefined,
    };
    const accept = (refusal: Refusal | undefined): Response | undefined => {
      if (refusal !== undefined) {
        const headers = { connection: 'close', ...refusal.headers };
        return respond(reply(refusal.status, { error: refusal.error }, headers), method);
      }
      if (server.upgrade<BunSocket>(req, { data: new BunSocket(key) })) return undefined;
      return respond(reply(400, { error: 'bad_upgrade' }), method);
    };
    const decided = admitUpgrade(ctx.routes, request, log);
    return decided instanceof Promise ? decided.then(accept) : accept(decided);
  };

  let server: BunServer | undefined;
  let metricsServer: BunServer | undefined;
  return {
    mount: { fetch, websocket },
    async listen(): Promise<Bound> {
      // Mounted: the caller's Bun.serve listens and hands us its requests.
      if (opts.mount) return { host: opts.host, port: opts.port };
      server = Bun.serve<BunSocket>({
        port: opts.port,
        hostname: opts.host,
        idleTimeout: HTTP_IDLE_S,
        fetch,
        websocket,
        error: () => respond(reply(500, { error: 'internal' }), 'GET'),
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
              : respond(reply(404, { error: 'not_found' }), req.method),
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
