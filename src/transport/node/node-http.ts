import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { CLIENT_ECHO_HEADER } from '../../net/client-echo.js';
import {
  pathOf,
  reply,
  route,
  type Refusal,
  type Reply,
  type RouteContext,
} from '../../http/routes.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

// node:http itself is loaded only where a Node server is made (node.ts); this
// module only writes to the objects it is handed.
const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

function write(res: ServerResponse, answer: Reply): void {
  res.writeHead(answer.status, answer.headers);
  res.end(res.req.method === 'HEAD' ? undefined : answer.body);
}

/** One header as a string (node:http joins repeated X-Forwarded-For with ", "). */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The relay's routes on a node:http request. */
export function createRequestHandler(ctx: RouteContext, metrics?: Handler): Handler {
  return (req, res) => {
    const path = pathOf(req.url);
    const answer = route(ctx, req.method ?? 'GET', path, false);
    // Upgrades never come here (node:http emits 'upgrade'): /ws answers 426.
    if (answer === 'metrics') return metrics?.(req, res);
    // The echo only when asked (`pairing-relay check` asks; probes do not).
    if (
      path === '/health' &&
      answer.status === 200 &&
      req.headers[CLIENT_ECHO_HEADER] !== undefined
    ) {
      const echo = ctx.clientEcho(req.socket.remoteAddress, headerOf(req, 'x-forwarded-for'));
      return write(res, { ...answer, headers: { ...answer.headers, [CLIENT_ECHO_HEADER]: echo } });
    }
    write(res, answer);
  };
}

/** Serves only /metrics: for a metrics port kept off the public one. */
export function createMetricsOnlyHandler(metrics: Handler): Handler {
  return (req, res) =>
    pathOf(req.url) === '/metrics'
      ? metrics(req, res)
      : write(res, reply(404, { error: 'not_found' }));
}

/** Writes a plain HTTP refusal on a socket that asked to upgrade, then drops it. */
export function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  const { status, error } = refusal;
  const body = JSON.stringify({ error });
  let extra = '';
  for (const [name, value] of Object.entries(refusal.headers ?? {}))
    extra += `${name}: ${value}\r\n`;
  if (socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\n` +
      'Connection: close\r\n' +
      extra +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
