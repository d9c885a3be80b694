import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelayProcess } from './helpers/instances.js';
import { killChildren } from './helpers/process.js';
import { startFaultProxy, type FaultProxy } from './helpers/tcp-proxy.js';
import { transport } from './helpers/transports.js';

// Self-test of the fault-injection helpers: the TCP proxy and relay processes.

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  killChildren();
});

async function echoServer(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = await startFaultProxy(port);
  closers.push(() => proxy.close());
  return proxy;
}

interface Client {
  socket: net.Socket;
  /** Bytes received so far. */
  received(): string;
  /** Resolves once `text` has been received in full (appended), or null after `ms`. */
  waitFor(text: string, ms: number): Promise<string | null>;
  closed: Promise<void>;
}

async function connect(port: number): Promise<Client> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  closers.push(() => void socket.destroy());
  let data = '';
  const waiters = new Set<() => void>();
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    data += chunk;
    for (const wake of waiters) wake();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
  return {
    socket,
    received: () => data,
    closed,
    waitFor: (text, ms) =>
      new Promise((resolve) => {
        const check = (): void => {
          if (!data.includes(text)) return;
          done();
          resolve(data);
        };
        const timer = setTimeout(() => {
          done();
          resolve(null);
        }, ms);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
  };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms),
    ),
  ]);
}

describe('fault proxy', () => {
  it('passes, delays, blackholes, resets, then passes again', async () => {
    const proxy = await proxyTo(await echoServer());
    expect(proxy.url).toBe(`redis://127.0.0.1:${proxy.port}`);

    // pass
    const a = await connect(proxy.port);
    a.socket.write('ping-1');
    expect(await a.waitFor('ping-1', 2_000)).toBe('ping-1');
    expect(proxy.connections()).toBe(1);

    // latency: 200 ms each way, order kept
    proxy.setMode('latency', 200);
    const sent = Date.now();
    a.socket.write('lat-1;');
    a.socket.write('lat-2;');
    expect(await a.waitFor('lat-1;lat-2;', 5_000)).toBe('ping-1lat-1;lat-2;');
    expect(Date.now() - sent).toBeGreaterThanOrEqual(0.8 * 200);

    // latency -> pass flushes what is pending, in order, before newer bytes
    a.socket.write('held;');
    await new Promise((r) => setTimeout(r, 50));
    proxy.setMode('pass');
    a.socket.write('after;');
    expect(await a.waitFor('after;', 2_000)).toMatch(/held;after;$/);

    // blackhole: nothing comes back, on the old connection or a new one
    proxy.setMode('blackhole');
    const b = await connect(proxy.port);
    a.socket.write('lost-a');
    b.socket.write('lost-b');
    const [gotA, gotB] = await Promise.all([a.waitFor('lost-a', 300), b.waitFor('lost-b', 300)]);
    expect(gotA).toBeNull();
    expect(gotB).toBeNull();
    expect(a.socket.destroyed).toBe(false);

    // reset: every open connection is closed, new ones too
    proxy.setMode('reset');
    await within(Promise.all([a.closed, b.closed]), 2_000, 'reset closing clients');
    expect(proxy.connections()).toBe(0);
    const refused = net.connect(proxy.port, '127.0.0.1');
    refused.on('error', () => {});
    await within(
      new Promise((r) => refused.once('close', r)),
      2_000,
      'connection during reset closing',
    );

    // pass again: a new connection works
    proxy.setMode('pass');
    const c = await connect(proxy.port);
    c.socket.write('ping-2');
    expect(await c.waitFor('ping-2', 2_000)).toBe('ping-2');
  });

  it('leaving blackhole drops connections that cannot resume, keeps idle ones', async () => {
    const proxy = await proxyTo(await echoServer());
    const idle = await connect(proxy.port);
    const busy = await connect(proxy.port);
    proxy.setMode('blackhole');
    const born = await connect(proxy.port);
    busy.socket.write('dropped');
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.connections()).toBe(3);

    proxy.setMode('pass');
    await within(Promise.all([busy.closed, born.closed]), 2_000, 'dead connections closing');
    idle.socket.write('still-here');
    expect(await idle.waitFor('still-here', 2_000)).toBe('still-here');
    expect(proxy.connections()).toBe(1);
  });
});

describe.skipIf(!transport.has('cli'))('relay process (needs a CLI)', () => {
  it('starts in memory, serves /health, dies on SIGKILL', async () => {
    const relay = await startRelayProcess({});
    expect(relay.url).toBe(`ws://127.0.0.1:${relay.port}/ws`);
    const health = await relay.health();
    expect(health.status, relay.logs()).toBe(200);
    expect(health.body['sessions']).toBe(0);
    expect((await relay.ready()).status).toBe(200);

    await relay.kill('SIGKILL');
    expect(await relay.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await expect(relay.health()).rejects.toThrow();
  });
});
