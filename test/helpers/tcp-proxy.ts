import net from 'node:net';

/**
 * A TCP proxy for fault tests: relay instances talk to redis-server through it,
 * and a test flips it between passing bytes, delaying them, swallowing them
 * and resetting connections.
 *
 * - 'pass': bytes flow both ways as they arrive.
 * - 'latency': every chunk, both directions, is delivered `ms` later; order is
 *   kept per connection and direction (a chunk never overtakes an earlier one,
 *   even when the delay is lowered). Switching to 'pass' flushes what is still
 *   pending, in order, before anything newer.
 * - 'blackhole': new connections are accepted but get no upstream connection;
 *   bytes (and FINs) arriving on any connection are dropped silently, both
 *   ways, and chunks still pending from 'latency' are dropped too. Sockets stay
 *   open and silent, like a network partition.
 * - 'reset': every open connection is torn down now, both sides, with an RST
 *   where possible; new connections are reset as soon as they are accepted.
 *
 * Leaving 'blackhole' (for 'pass' or 'latency') destroys the connections that
 * cannot carry on: those accepted during the blackhole (they have no upstream)
 * and those that lost bytes to it. Dropping bytes in the middle of a TCP stream
 * is something a real network never does (TCP retransmits), and a Redis client
 * whose commands or replies vanished would pair later replies with the wrong
 * commands; destroying those connections makes the client reconnect instead.
 * Connections that merely sat idle through the blackhole flow again.
 *
 * No backpressure: a test proxy for small Redis traffic, not bulk transfer.
 */
export type ProxyMode = 'pass' | 'latency' | 'blackhole' | 'reset';

export interface FaultProxy {
  /** Listen port on 127.0.0.1. */
  port: number;
  /** `redis://127.0.0.1:${port}` */
  url: string;
  setMode(mode: 'pass'): void;
  setMode(mode: 'latency', ms: number): void;
  setMode(mode: 'blackhole'): void;
  setMode(mode: 'reset'): void;
  /** The current mode. */
  mode(): ProxyMode;
  /** Open proxied connections (client side). */
  connections(): number;
  /** Closes the listener and destroys every connection. */
  close(): Promise<void>;
}

const END = Symbol('end');
/** A side closed: tear the connection down once what it sent before has been delivered. */
interface Closed {
  reset: boolean;
}
type Payload = Buffer | typeof END | Closed;
type Item = { data: Payload; due: number };

/** One direction of one connection: a FIFO of chunks due at given times. */
interface Lane {
  conn: Conn;
  queue: Item[];
  timer: NodeJS.Timeout | undefined;
  dest: () => net.Socket | undefined;
}

interface Conn {
  client: net.Socket;
  upstream: net.Socket | undefined;
  up: Lane; // client -> upstream
  down: Lane; // upstream -> client
  /** Accepted during a blackhole (no upstream) or lost bytes to one. */
  dead: boolean;
  closed: boolean;
}

/** Tears a socket down with an RST when it is an established TCP socket, else just destroys it. */
function hardKill(socket: net.Socket | undefined): void {
  if (socket === undefined || socket.destroyed) return;
  if (socket.connecting || typeof socket.resetAndDestroy !== 'function') {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export async function startFaultProxy(
  targetPort: number,
  targetHost = '127.0.0.1',
): Promise<FaultProxy> {
  let mode: ProxyMode = 'pass';
  let latencyMs = 0;
  const conns = new Set<Conn>();

  const clearLane = (lane: Lane): void => {
    lane.queue.length = 0;
    if (lane.timer !== undefined) clearTimeout(lane.timer);
    lane.timer = undefined;
  };

  const teardown = (conn: Conn, reset: boolean): void => {
    if (conn.closed) return;
    conn.closed = true;
    conns.delete(conn);
    clearLane(conn.up);
    clearLane(conn.down);
    if (reset) {
      hardKill(conn.client);
      hardKill(conn.upstream);
    } else {
      // Clean close: let what was already written go out first.
      conn.client.destroySoon();
      conn.upstream?.destroySoon();
    }
  };

  const deliver = (lane: Lane, data: Payload): void => {
    if (!Buffer.isBuffer(data) && data !== END) {
      teardown(lane.conn, data.reset);
      return;
    }
    const dest = lane.dest();
    if (dest === undefined || dest.destroyed || !dest.writable) return;
    if (data === END) dest.end();
    else dest.write(data);
  };

  /** Delivers every due chunk at the head of the lane, then waits for the next one. */
  const pump = (lane: Lane): void => {
    if (lane.timer !== undefined) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
    }
    const now = Date.now();
    while (!lane.conn.closed && lane.queue.length > 0 && lane.queue[0]!.due <= now) {
      deliver(lane, lane.queue.shift()!.data);
    }
    const head = lane.queue[0];
    if (head !== undefined && !lane.conn.closed) {
      lane.timer = setTimeout(() => pump(lane), Math.max(1, head.due - now));
    }
  };

  /** Bytes (or an end) arriving from one side, bound for the lane's destination. */
  const arrive = (conn: Conn, lane: Lane, data: Buffer | typeof END): void => {
    if (conn.closed) return;
    if (mode === 'blackhole' || mode === 'reset' || conn.dead) {
      conn.dead = true;
      return;
    }
    if (mode === 'latency') {
      lane.queue.push({ data, due: Date.now() + latencyMs });
      if (lane.timer === undefined) pump(lane);
      return;
    }
    // pass: behind anything still queued from 'latency', else straight through.
    if (lane.queue.length > 0) {
      lane.queue.push({ data, due: 0 });
      pump(lane);
    } else {
      deliver(lane, data);
    }
  };

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    client.on('error', () => {});
    if (mode === 'reset') {
      hardKill(client);
      return;
    }
    const conn = {
      client,
      upstream: undefined,
      dead: mode === 'blackhole',
      closed: false,
    } as Conn;
    conn.up = { conn, queue: [], timer: undefined, dest: () => conn.upstream };
    conn.down = { conn, queue: [], timer: undefined, dest: () => conn.client };
    conns.add(conn);
    client.on('data', (chunk: Buffer) => arrive(conn, conn.up, chunk));
    client.on('end', () => arrive(conn, conn.up, END));
    client.on('close', (hadError) => {
      // Whatever the client sent before going still reaches the upstream (unless dropped).
      if (conn.up.queue.length > 0) conn.up.queue.push({ data: { reset: hadError }, due: 0 });
      else teardown(conn, hadError);
    });
    if (conn.dead) return; // accepted into the blackhole: no upstream, ever

    const upstream = net.connect({ port: targetPort, host: targetHost, allowHalfOpen: true });
    conn.upstream = upstream;
    upstream.on('error', () => {});
    upstream.on('data', (chunk: Buffer) => arrive(conn, conn.down, chunk));
    upstream.on('end', () => arrive(conn, conn.down, END));
    upstream.on('close', (hadError) => {
      if (conn.closed) return;
      // Behind a blackhole the client cannot learn that the upstream went away.
      if (mode === 'blackhole' || conn.dead) {
        conn.dead = true;
        return;
      }
      // An upstream RST (or a refused connect) reaches the client as an RST; a
      // clean close after what is still delayed.
      if (conn.down.queue.length > 0) conn.down.queue.push({ data: { reset: hadError }, due: 0 });
      else teardown(conn, hadError);
    });
  });
  server.on('error', () => {});

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  function setMode(next: ProxyMode, ms?: number): void {
    const previous = mode;
    if (next === 'latency') {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
        throw new Error(`setMode('latency', ms): ms must be a non-negative number, got ${ms}`);
      }
      latencyMs = ms;
    }
    mode = next;
    switch (next) {
      case 'reset':
        for (const conn of [...conns]) teardown(conn, true);
        break;
      case 'blackhole':
        for (const conn of conns) {
          if (conn.up.queue.length > 0 || conn.down.queue.length > 0) conn.dead = true;
          clearLane(conn.up);
          clearLane(conn.down);
        }
        break;
      case 'pass':
      case 'latency':
        if (previous === 'blackhole') {
          for (const conn of [...conns]) if (conn.dead) teardown(conn, true);
        }
        if (next === 'pass') {
          // Flush what 'latency' still holds, in order, ahead of anything new.
          for (const conn of conns) {
            for (const lane of [conn.up, conn.down]) {
              for (const item of lane.queue) item.due = 0;
              pump(lane);
            }
          }
        }
        break;
    }
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    setMode: setMode as FaultProxy['setMode'],
    mode: () => mode,
    connections: () => conns.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const conn of [...conns]) {
          teardown(conn, false);
          conn.client.destroy();
          conn.upstream?.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
