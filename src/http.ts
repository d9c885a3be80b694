import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocketServer } from 'ws';
import { clientKey, type TrustFn } from './client-address.js';
import { bindWs, wsSocket } from './transport/ws-socket.js';
import type { Relay } from './relay.js';

export const WS_PATH = '/ws';
const GET_ONLY = 'GET, HEAD';

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra?: Record<string, string>,
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, extra === undefined ? JSON_HEADERS : { ...JSON_HEADERS, ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** /health, /ready, and 404/405/426 for everything else. Cheap, no I/O. */
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Serves only /metrics: for a metrics port kept off the public one. */
export function createMetricsOnlyHandler(metrics: Handler): Handler {
  return (req, res) =>
    pathOf(req.url) === '/metrics' ? metrics(req, res) : sendJson(res, 404, { error: 'not_found' });
}

export function createRequestHandler(
  relay: Relay,
  version: string,
  readyDuringStoreOutage: boolean,
  metrics?: Handler,
): Handler {
  return (req, res) => {
    const path = pathOf(req.url);
    if (path === '/metrics' && metrics !== undefined) return metrics(req, res);
    const known = path === '/health' || path === '/ready' || path === WS_PATH;
    if (!known) return sendJson(res, 404, { error: 'not_found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: GET_ONLY });
    }
    switch (path) {
      case '/health':
        return sendJson(res, 200, {
          status: 'ok',
          sessions: relay.registry.size,
          connections: relay.clients.size,
          version,
        });
      case '/ready':
        return ready(relay, readyDuringStoreOutage, res);
      default:
        return sendJson(res, 426, { error: 'upgrade_required' }, { upgrade: 'websocket' });
    }
  };
}

/**
 * Never says all is well when it is not. This instance's own trouble (its
 * channel unconfirmed, claims not yet written back) is 503: other replicas
 * can serve. Redis slow or gone is every replica's trouble alike, so whether
 * that is 503 is the operator's choice (docs/deploy.md); the body says it.
 */
function ready(relay: Relay, duringStoreOutage: boolean, res: ServerResponse): void {
  if (relay.draining) return sendJson(res, 503, { status: 'draining' });
  const cluster = relay.clusterStatus;
  if (cluster === undefined) return sendJson(res, 200, { status: 'ready' });
  const body = { redis: cluster.store, instance: cluster.membership };
  if (cluster.store !== 'ok') {
    return sendJson(res, duringStoreOutage ? 200 : 503, { status: 'degraded', ...body });
  }
  if (cluster.membership !== 'ok') return sendJson(res, 503, { status: 'degraded', ...body });
  return sendJson(res, 200, { status: 'ready', ...body });
}

/** Writes a plain HTTP refusal on a socket that asked to upgrade, then drops it. */
function refuse(socket: Duplex, status: number, error: string): void {
  const body = JSON.stringify({ error });
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The upgrade gate: path, draining and socket caps are all decided here,
 * before any WebSocket is made, so a refused client costs almost nothing.
 * `onlyOwnPath` leaves other paths alone when attached to someone else's server.
 */
export function createUpgradeHandler(
  relay: Relay,
  wss: WebSocketServer,
  trust: TrustFn,
  log: Logger,
  onlyOwnPath: boolean,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const onError = (err: Error & { code?: string }): void => {
    log.debug({ err: err.code ?? err.message }, 'socket error');
  };
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (pathOf(req.url) !== WS_PATH) {
      if (onlyOwnPath) return;
      relay.events.rejected('upgrade_not_found');
      return refuse(socket, 404, 'not_found');
    }
    if (relay.draining) {
      relay.events.rejected('upgrade_draining');
      return refuse(socket, 503, 'going_away');
    }
    const key = clientKey(req, trust);
    const admission = relay.admit(key);
    if (admission === 'sockets_full') {
      log.warn({ sockets: relay.clients.size }, 'socket cap reached: upgrade refused');
      return refuse(socket, 503, 'relay_capacity');
    }
    if (admission === 'address_full') {
      log.warn({ client: key }, 'per-address socket cap reached: upgrade refused');
      return refuse(socket, 429, 'too_many_connections');
    }
    wss.handleUpgrade(req, socket, head, (ws) =>
      bindWs(ws, relay.attach(wsSocket(ws), key), onError),
    );
  };
}
