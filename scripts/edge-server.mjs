// The Worker (dist/cloudflare.js) under miniflare, behind a small node:http
// front. miniflare passes a client's own CF-Connecting-IP header through
// unchanged, so any client could pick its rate-limit key; the front
// overwrites it with the socket's peer address, as Cloudflare's edge does.
// Used by `npm run edge` (scripts/edge.mjs), the edge transport of the test
// suite (test/helpers/transports.ts) and bench/edge.mjs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { parse } from 'smol-toml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const WRANGLER_TOML = `${ROOT}deploy/cloudflare/wrangler.toml`;

/** The Miniflare options that deploy/cloudflare/wrangler.toml stands for, plus `vars`. */
export function miniflareOptions(vars = {}) {
  const toml = parse(readFileSync(WRANGLER_TOML, 'utf8'));
  const sqlite = new Set(toml.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  const durableObjects = Object.fromEntries(
    toml.durable_objects.bindings.map((b) => [
      b.name,
      { className: b.class_name, useSQLite: sqlite.has(b.class_name) },
    ]),
  );
  return {
    modules: true,
    scriptPath: fileURLToPath(new URL(toml.main, `file://${WRANGLER_TOML}`)),
    compatibilityDate: toml.compatibility_date,
    compatibilityFlags: toml.compatibility_flags,
    durableObjects,
    bindings: { ...toml.vars, ...vars },
    host: '127.0.0.1',
    port: 0,
  };
}

/** The socket peer, as an address (IPv4-mapped IPv6 folded to IPv4). */
function peerOf(socket) {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** The request's headers with CF-Connecting-IP set to the peer, as raw lines. */
function headerLines(req) {
  const lines = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    if (name.toLowerCase() === 'cf-connecting-ip') continue;
    lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
  }
  lines.push(`CF-Connecting-IP: ${peerOf(req.socket)}`);
  return lines;
}

/**
 * Starts miniflare and the front on host:port (port 0 picks one). Resolves
 * with { url, port, host, stop }: url is the ws:// URL of /ws.
 */
export async function startEdge({ port = 8787, host = '127.0.0.1', vars = {} } = {}) {
  // miniflare keeps its objects' storage in a directory of os.tmpdir() that
  // dispose() removes only in the background (often not at all before the
  // process ends); it is made inside one of ours, removed once it is done.
  const scratch = mkdtempSync(join(tmpdir(), 'pairing-relay-edge-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
  let mf;
  try {
    mf = new Miniflare(miniflareOptions(vars));
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  let inner;
  try {
    inner = await mf.ready;
  } catch (err) {
    await mf.dispose().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
  const sockets = new Set();
  const front = createServer((req, res) => {
    const headers = { ...req.headers, 'cf-connecting-ip': peerOf(req.socket) };
    const out = httpRequest(
      { host: inner.hostname, port: inner.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
  front.on('upgrade', (req, socket, head) => {
    const upstream = connect(Number(inner.port), inner.hostname);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    const lines = [`${req.method} ${req.url} HTTP/1.1`, ...headerLines(req), '', ''];
    upstream.write(lines.join('\r\n'));
    if (head.length > 0) upstream.write(head);
    upstream.pipe(socket).pipe(upstream);
    const drop = () => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', drop);
    socket.on('error', drop);
  });
  front.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    front.once('error', reject);
    front.listen(port, host, () => resolve(undefined));
  });
  const bound = front.address();
  const shown = host.includes(':') ? `[${host}]` : host;
  let stopping;
  return {
    host,
    port: bound.port,
    url: `ws://${shown}:${bound.port}/ws`,
    miniflare: mf,
    stop() {
      stopping ??= (async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => front.close(() => resolve(undefined)));
        await mf.dispose();
        rmSync(scratch, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
