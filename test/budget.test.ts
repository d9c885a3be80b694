// Transport-independent: it drives the core through an in-memory SocketKind; no socket.
import * as v8 from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../src/core/client.js';
import { MemorySessionStore } from '../src/core/sessions.js';
import { ask, connect, disposeMemoryRelays, memoryRelay } from './helpers/memory-relay.js';

/**
 * Used heap bytes with the garbage gone: v8.queryObjects() runs a full
 * collection before it counts (Node docs), so no --expose-gc is needed.
 * Experimental (stability 1.1) and absent before Node 20.13.
 */
function liveHeap(): number {
  v8.queryObjects(Object, { format: 'count' });
  return v8.getHeapStatistics().used_heap_size;
}

describe('size budgets of what the relay keeps per socket and per session', () => {
  afterEach(disposeMemoryRelays);

  // JSC (Bun) rounds an object up to a size class: a Client of 13 fields cost
  // 161 heap bytes, of 12 fields 113 (docs/benchmarks.md, bun:jsc heapStats()
  // over 2,000 held sessions). A new field must push another one out.
  it('a Client has at most 12 fields of its own', () => {
    const { client } = connect(memoryRelay({ maxSessions: 1, maxSockets: 2 }), '192.0.2.1');
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
      const relay = memoryRelay({ maxSessions: N + 1, maxSockets: 2 * N + 2 });
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
      expect(relay.sessionStore.size).toBe(N + 1);
      expect(held.length).toBe(2 * N);
      expect(perSession).toBeLessThan(2_000);
    },
  );
});
