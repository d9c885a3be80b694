import { createServer, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * A tiny HTTP reverse proxy in front of a relay, for `check` tests; the
 * failures real ones have, one per mode:
 * - 'pass': forwards requests and WebSocket upgrades (like nginx set up right).
 * - 'drop-upgrade': forwards upgrades as plain GETs without Upgrade/Connection
 *   (nginx without `proxy_set_header Upgrade`): the relay answers 426.
 * - 'idle-cut': passes upgrades, then destroys both sides of a WebSocket that
 *   carried no byte for `idleMs` (a load balancer's idle timeout).
 * With `forwardedFor`, it appends the client's address to X-Forwarded-For.
 */
export type HttpProxyMode = 'pass' | 'drop-upgrade' | 'idle-cut';

export interface HttpProxy {
  port: number;
  /** TCP connections accepted so far. */
  connections(): number;
  /** ws://127.0.0.1:<port><path> */
  wsUrl(path?: string): string;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'upgrade', 'keep-alive', 'x-forwarded-for']);

export async function startHttpProxy(
  upstreamPort: number,
  opts: { mode: HttpProxyMode; forwardedFor?: boolean; idleMs?: number },
): Promise<HttpProxy> {
  const sockets = new Set<Duplex>();
  const forwarded = (req: IncomingMessage): string | undefined => {
    const prior = req.headers['x-forwarded-for'];
    if (opts.forwardedFor !== true) return typeof prior === 'string' ? prior : undefined;
    const peer = req.socket.remoteAddress ?? 'unknown';
    return typeof prior === 'string' ? `${prior}, ${peer}` : peer;
  };
  const plainHeaders = (req: IncomingMessage, dropUpgrade: boolean): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(name) || value === undefined) continue;
      if (dropUpgrade && name.startsWith('sec-websocket-')) continue;
      out[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const xff = forwarded(req);
    if (xff !== undefined) out['x-forwarded-for'] = xff;
    return out;
  };

  const server = createServer((req, res) => {
    const upstream = request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: plainHeaders(req, false),
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
    if (opts.mode === 'drop-upgrade') {
      const upstream = request(
        {
          host: '127.0.0.1',
          port: upstreamPort,
          method: req.method,
          path: req.url,
          headers: plainHeaders(req, true),
          agent: false,
        },
        (answer) => {
          let body = '';
          answer.setEncoding('utf8');
          answer.on('data', (chunk: string) => (body += chunk));
          answer.on('end', () => {
            socket.end(
              `HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}\r\n` +
                `Content-Type: ${answer.headers['content-type'] ?? 'text/plain'}\r\n` +
                `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
            );
          });
        },
      );
      upstream.on('error', () => socket.destroy());
      upstream.end();
      return;
    }
    const upstream: Socket = connect(upstreamPort, '127.0.0.1');
    sockets.add(upstream);
    upstream.once('close', () => {
      sockets.delete(upstream);
      socket.destroy();
    });
    socket.once('close', () => upstream.destroy());
    upstream.on('error', () => upstream.destroy());
    let head_ = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if ((req.rawHeaders[i] as string).toLowerCase() === 'x-forwarded-for') continue;
      head_ += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    }
    const xff = forwarded(req);
    if (xff !== undefined) head_ += `X-Forwarded-For: ${xff}\r\n`;
    upstream.write(head_ + '\r\n');
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
    if (opts.mode === 'idle-cut') {
      const idleMs = opts.idleMs ?? 500;
      let timer = setTimeout(cut, idleMs);
      function cut(): void {
        socket.destroy();
        upstream.destroy();
      }
      const touch = (): void => {
        clearTimeout(timer);
        timer = setTimeout(cut, idleMs);
      };
      socket.on('data', touch);
      upstream.on('data', touch);
      socket.once('close', () => clearTimeout(timer));
    }
  });

  let accepted = 0;
  server.on('connection', () => accepted++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    connections: () => accepted,
    wsUrl: (path = '/ws') => `ws://127.0.0.1:${port}${path}`,
    async close() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
