import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { withHealthEcho, type RequestReader } from '../../http/health-echo.js';
import { metricsReply } from '../../http/metrics-answer.js';
import { reply, STATUS_TEXT, type Reply } from '../../http/reply.js';
import { pathOf, route, type RouteContext } from '../../http/routes.js';
import { refusalReply, type Refusal } from '../../http/upgrade-gate.js';
import type { Metrics } from '../../observe/metrics.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What renders /metrics: the transport writes its answer (http/metrics-answer.ts). */
export type MetricsSource = Pick<Metrics, 'render'>;

// node:http itself is loaded only where a Node server is made (node.ts); this
// module only writes the answers http/ makes to the objects it is handed.
function write(res: ServerResponse, answer: Reply): void {
  res.writeHead(answer.status, answer.headers);
  res.end(res.req.method === 'HEAD' ? undefined : answer.body);
}

/** One header as a string (node:http joins repeated X-Forwarded-For with ", "). */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

const NODE_READER: RequestReader<IncomingMessage> = {
  header: headerOf,
  peerAddress: (req) => req.socket.remoteAddress,
};

const NOT_FOUND = reply(404, { error: 'not_found' });

function serveMetrics(
  metrics: MetricsSource | undefined,
  req: IncomingMessage,
  res: ServerResponse,
) {
  if (metrics === undefined) return write(res, NOT_FOUND);
  void metricsReply(metrics, req.method ?? 'GET').then((answer) => write(res, answer));
}

/** The relay's routes on a node:http request. */
export function createRequestHandler(ctx: RouteContext, metrics?: MetricsSource): Handler {
  return (req, res) => {
    const path = pathOf(req.url);
    const answer = route(ctx, req.method ?? 'GET', path, false);
    // Upgrades never come here (node:http emits 'upgrade'): /ws answers 426.
    if (answer === 'metrics') return serveMetrics(metrics, req, res);
    write(
      res,
      path === '/health' ? withHealthEcho(ctx, answer, NODE_READER, req, undefined) : answer,
    );
  };
}

/** Serves only /metrics: for a metrics port kept off the public one. */
export function createMetricsOnlyHandler(metrics: MetricsSource): Handler {
  return (req, res) =>
    pathOf(req.url) === '/metrics' ? serveMetrics(metrics, req, res) : write(res, NOT_FOUND);
}

/**
 * Writes a refused upgrade (http/upgrade-gate.ts's answer) on the socket that
 * asked: there is no ServerResponse for an upgrade request, so the answer
 * goes out as raw HTTP/1.1; then the socket is dropped.
 */
export function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  if (socket.destroyed) return;
  const { status, headers, body } = refusalReply(refusal);
  let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
