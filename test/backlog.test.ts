// Transport-independent: the core on memory sockets, which (like Bun's) cannot stop reading.
import { afterEach, describe, expect, it } from 'vitest';
import { ask, connect, disposeMemoryRelays, memoryRelay } from './helpers/memory-relay.js';

afterEach(disposeMemoryRelays);

const KEY = '192.0.2.7';

/**
 * A client whose address has failed once this window: its next listen waits
 * on the failure store (a promise, even in memory), so what it sends right
 * behind goes to the backlog.
 */
async function parkedBehindListen(options: { maxBufferedBytes?: number } = {}) {
  const relay = memoryRelay(options);
  const peer = connect(relay, KEY);
  expect(await ask(peer, { type: 'connect', otc: '654321' })).toContain('otc_not_found');
  const answered = ask(peer, { type: 'listen', otc: '123456' });
  return { relay, peer, answered };
}

describe('frames behind a pending step, on a socket that cannot pause', () => {
  it('are kept, then handled in order, under the byte cap', async () => {
    const { peer, answered } = await parkedBehindListen({ maxBufferedBytes: 64 * 1024 });
    // 40 KiB behind the listen: under the cap.
    for (let i = 0; i < 10; i++) peer.client.frame(`bad ${'x'.repeat(4 * 1024)}`);
    expect(await answered).toContain('session_open');
    expect(peer.socket.open).toBe(true);
  });

  it('past maxBufferedBytes: closed 1008, not held', async () => {
    const { relay, peer, answered } = await parkedBehindListen({ maxBufferedBytes: 64 * 1024 });
    // 80 KiB in 20 frames: far under the frame count cap, over the byte cap.
    for (let i = 0; i < 20; i++) peer.client.frame(`bad ${'x'.repeat(4 * 1024)}`);
    expect(peer.socket.open).toBe(false);
    expect(peer.socket.closedWith).toBe(1008);
    // The close completes; the listen that was pending leaves no session behind.
    void answered;
    peer.client.gone();
    await new Promise(setImmediate);
    expect(relay.sessionStore.size).toBe(0);
    expect(relay.clients.size).toBe(0);
  });
});
