// Transport-independent: it drives the core through an in-memory SocketKind; no socket.
import * as v8 from 'node:v8';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveOptions } from '../src/config/options.js';
import { memoryBackends } from '../src/core/backends.js';
import { Client } from '../src/core/client.js';
import { SYSTEM_CLOCK } from '../src/core/clock.js';
import { Relay } from '../src/core/relay.js';
import { MemorySessionStore } from '../src/core/sessions.js';
import type { SocketKind } from '../src/core/socket.js';
import { NO_EVENTS } from '../src/observe/events.js';

/**
 * A socket kept in memory: the core's SocketKind seam is what a transport
 * implements, so this is a transport (a third one), not a stand-in for ws.
 * It keeps only the last frame, so it adds next to nothing per socket.
 */
interface MemorySocket {
  open: boolean;
  last: string;
  heard: (() => void) | null;
}

const MEMORY_KIND: SocketKind<MemorySocket> = {
  isOpen: (s) => s.open,
  send: (s, frame) => {
    s.last = typeof frame === 'string' ? frame : frame.toString();
    const heard = s.heard;
    s.heard = null;
    heard?.();
  },
  bufferedAmount: () => 0,
  close: (s) => {
    s.open = false;
  },
  terminate: (s) => {
    s.open = false;
  },
  ping: () => undefined,
  pause: () => false,
  resume: () => undefined,
};

const relays: Relay[] = [];

/**
 * Used heap bytes with the garbage gone: v8.queryObjects() runs a full
 * collection before it counts (Node docs), so no --expose-gc is needed.
 * Experimental (stability 1.1) and absent before Node 20.13.
 */
function liveHeap(): number {
  v8.queryObjects(Object, { format: 'count' });
  return v8.getHeapStatistics().used_heap_size;
}

function memoryRelay(sessions: number): Relay {
  const opts = resolveOptions({
    maxSessions: sessions,
    maxSockets: 2 * sessions,
    logLevel: 'silent',
  });
  const relay = new Relay({
    opts,
    log: pino({ level: 'silent' }),
    events: NO_EVENTS,
    backends: memoryBackends(opts),
    sockets: MEMORY_KIND as SocketKind<unknown>,
    clock: SYSTEM_CLOCK,
  });
  relays.push(relay);
  return relay;
}

function connect(relay: Relay, key: string): { client: Client; socket: MemorySocket } {
  const socket: MemorySocket = { open: true, last: '', heard: null };
  return { client: relay.attach(socket, key), socket };
}

/** Sends a frame and waits for the relay's answer. */
function ask(peer: { client: Client; socket: MemorySocket }, frame: object): Promise<string> {
  return new Promise((resolve) => {
    peer.socket.heard = () => resolve(peer.socket.last);
    peer.client.frame(JSON.stringify(frame));
  });
}

describe('size budgets of what the relay keeps per socket and per session', () => {
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.dispose()));
  });

  // JSC (Bun) rounds an object up to a size class: a Client of 13 fields cost
  // 161 heap bytes, of 12 fields 113 (docs/benchmarks.md, bun:jsc heapStats()
  // over 2,000 held sessions). A new field must push another one out.
  it('a Client has at most 12 fields of its own', () => {
    const { client } = connect(memoryRelay(1), '192.0.2.1');
    expect(Object.keys(client).length).toBeLessThanOrEqual(12);
  });

  it('a Session has at most 12 fields of its own', () => {
    const store = new MemorySessionStore(1);
    const session = store.open('123456', { session: null } as never, 'k', 0, false);
    expect(typeof session).toBe('object');
    expect(Object.keys(session as object).length).toBeLessThanOrEqual(12);
  });

  // An idle paired session, both clients included (not the runtime's own
  // socket objects), measured at 870-930 bytes of live heap on Node 20 (2,000 sessions). The
  // bound leaves room for V8's own variance; it catches a timer, closure or
  // map entry per session or per socket creeping back.
  it.skipIf(typeof v8.queryObjects !== 'function')(
    'an idle paired session costs the core under 2,000 bytes of heap',
    async () => {
      const N = 2_000;
      const relay = memoryRelay(N + 1);
      const held: unknown[] = [];
      // Everything made once (the first session's code paths, the stores) is made before counting.
      const warm = [connect(relay, '192.0.2.1'), connect(relay, '192.0.2.2')] as const;
      expect(await ask(warm[0], { type: 'listen', otc: '099999' })).toContain('"ack"');
      expect(await ask(warm[1], { type: 'connect', otc: '099999' })).toContain('peer_found');
      const before = liveHeap();
      for (let i = 0; i < N; i++) {
        const otc = String(100_000 + i);
        const target = connect(relay, '192.0.2.1');
        const controller = connect(relay, '192.0.2.2');
        expect(await ask(target, { type: 'listen', otc })).toContain('"ack"');
        expect(await ask(controller, { type: 'connect', otc })).toContain('peer_found');
        held.push(target, controller);
      }
      const perSession = (liveHeap() - before) / N;
      expect(v8.queryObjects(Client, { format: 'count' })).toBe(2 * N + 2);
      expect(relay.registry.size).toBe(N + 1);
      expect(held.length).toBe(2 * N);
      expect(perSession).toBeLessThan(2_000);
    },
  );
});
