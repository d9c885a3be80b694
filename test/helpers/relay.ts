import { createServer } from 'node:net';
import { expect } from 'vitest';
import { WebSocket } from 'ws';
import type { RelayOptions, RelayServer } from '../../src/index.js';
import { inbox } from './inbox.js';
import { closeRawClients } from './raw-ws.js';
import { transport } from './transports.js';

export interface StartedRelay {
  relay: RelayServer;
  url: string;
  port: number;
  httpUrl: (path: string) => string;
}

const running = new Set<RelayServer>();
const sockets = new Set<WebSocket>();

/**
 * A relay on 127.0.0.1, port 0, silent unless the test passes a logger, on
 * the transport under test (test/helpers/transports.ts).
 */
export async function startRelay(options: RelayOptions = {}): Promise<StartedRelay> {
  const settings: RelayOptions = { host: '127.0.0.1', port: 0, logLevel: 'silent', ...options };
  const relay = await transport.relay(settings);
  const address = await relay.start();
  running.add(relay);
  return {
    relay,
    url: address.url,
    port: address.port,
    httpUrl: (path) => `http://127.0.0.1:${address.port}${path}`,
  };
}

/** For afterEach: closes every client (raw-ws.ts's too) and relay a test opened. */
export async function cleanup(): Promise<void> {
  closeRawClients();
  for (const ws of sockets) ws.terminate();
  sockets.clear();
  await Promise.all([...running].map((r) => r.stop()));
  running.clear();
}

export type Message = Record<string, unknown>;

export interface TestClient {
  ws: WebSocket;
  send(message: unknown): void;
  /** The next message, in order; rejects after timeoutMs so a hang fails instead of stalling. */
  next(timeoutMs?: number): Promise<Message>;
  /** Resolves with the close code once the socket is closed. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** A real ws client with an awaitable message queue, so a test reads as a conversation. */
export function wsConnect(
  url: string,
  headers: Record<string, string> = {},
  opts: { autoPong?: boolean; localAddress?: string } = {},
): Promise<TestClient> {
  const ws = new WebSocket(url, {
    headers,
    autoPong: opts.autoPong ?? true,
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
  });
  sockets.add(ws);
  const messages = inbox<Message>('message');
  ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Message));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  const client: TestClient = {
    ws,
    send(message) {
      ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    next: messages.next,
    closed,
    close() {
      ws.close();
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}

/**
 * wsConnect() options for a client of its own: source address 127.0.0.n
 * (n 2-254; the default client is 127.0.0.1). Every transport tells these
 * apart by the socket peer, with no proxy setting: the edge one included,
 * where the front sets CF-Connecting-IP from it.
 */
export function asClient(n: number): { localAddress: string } {
  return { localAddress: `127.0.0.${n}` };
}

/** A target listening under `code` on the relay at `url`, ack received. */
export async function listenOn(
  url: string,
  code: string,
  headers: Record<string, string> = {},
): Promise<TestClient> {
  const target = await wsConnect(url, headers);
  target.send({ type: 'listen', otc: code });
  expect(await target.next()).toEqual({ type: 'ack', message: 'session_open' });
  return target;
}

/**
 * A target and a controller paired under `code`, both told peer_found; the
 * controller on `controllerUrl` (another instance, for scale-out) if given.
 */
export async function pair(
  url: string,
  code = '123456',
  controllerUrl = url,
): Promise<{ target: TestClient; controller: TestClient }> {
  const target = await listenOn(url, code);
  const controller = await wsConnect(controllerUrl);
  controller.send({ type: 'connect', otc: code });
  expect(await Promise.all([target.next(), controller.next()])).toEqual([
    { type: 'peer_found' },
    { type: 'peer_found' },
  ]);
  return { target, controller };
}

/**
 * Proves nothing else is queued for `client`: sends a frame the relay always
 * answers with invalid_message and expects that to be the very next message.
 */
export async function expectNothingPending(client: TestClient): Promise<void> {
  client.send('not json');
  const msg = await client.next();
  if (msg['type'] !== 'error' || msg['code'] !== 'invalid_message') {
    throw new Error(`unexpected message: ${JSON.stringify(msg)}`);
  }
}

/** Upgrade attempt that reports the HTTP status of a refusal (or 101). */
export function upgradeStatus(
  url: string,
  headers: Record<string, string> = {},
  from: { localAddress?: string } = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, ...from });
    sockets.add(ws);
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A relay count (sessions, connections, draining) reaches `expected`: at once
 * in this process; a relay in another process reports its counts a moment later.
 */
export async function settles<T>(read: () => T, expected: T, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (read() !== expected && Date.now() < deadline) await delay(5);
  if (read() !== expected) {
    throw new Error(`expected ${String(expected)}, still ${String(read())} after ${timeoutMs} ms`);
  }
}

/** Polls until `check()` is true, failing after timeoutMs. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await delay(10);
  }
}

/** A free TCP port on 127.0.0.1 (for servers that need a port chosen up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A ws:// URL that refuses connections, and goes on refusing while held: a
 * listener of the test's own on 127.0.0.2:P keeps every wildcard bind (0.0.0.0,
 * ::) off port P, and nothing binds 127.0.0.3 by name, so 127.0.0.3:P has no
 * listener. (A port freed by a stopped relay can be taken by any parallel test.)
 * close() lets the port go.
 */
export async function refusingUrl(): Promise<{ url: string; close(): Promise<void> }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.2', resolve));
  const { port } = holder.address() as { port: number };
  return {
    url: `ws://127.0.0.3:${port}/ws`,
    close: () => new Promise((resolve) => holder.close(() => resolve())),
  };
}
