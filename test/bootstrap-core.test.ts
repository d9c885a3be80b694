// Transport-independent: the bootstrap broker on memory sockets, with a jti ledger of the test's own.
import { afterEach, describe, expect, it } from 'vitest';
import type { JtiLedger } from '../src/limits/jti-ledger.js';
import { ask, connect, disposeMemoryRelays, memoryRelay } from './helpers/memory-relay.js';

afterEach(disposeMemoryRelays);

/** A ledger that lets every jti through, as the Redis ledger does while Redis is away (fail open). */
const FAIL_OPEN: JtiLedger = {
  isUsed: async () => false,
  consume: async () => 'ok',
  size: 0,
  clear: () => undefined,
};

describe('two inits for one jti that the ledger let through', () => {
  it('the second is refused token_already_used; the first still gets its answer', async () => {
    const relay = memoryRelay({}, { jtis: FAIL_OPEN });
    const watcher = connect(relay, '192.0.2.1');
    const first = connect(relay, '192.0.2.2');
    const second = connect(relay, '192.0.2.3');
    expect(await ask(watcher, { type: 'bootstrap_watch', jti: 'bt_twice' })).toContain(
      'bootstrap_watching',
    );
    const presented = new Promise<string>((resolve) => {
      watcher.socket.heard = () => resolve(watcher.socket.last);
    });
    first.client.frame(
      JSON.stringify({ type: 'bootstrap_init', jti: 'bt_twice', token: 't', targetPubKey: 'k1' }),
    );
    expect(await presented).toContain('"k1"');
    expect(
      await ask(second, {
        type: 'bootstrap_init',
        jti: 'bt_twice',
        token: 't',
        targetPubKey: 'k2',
      }),
    ).toBe(JSON.stringify({ type: 'bootstrap_reject', error: 'token_already_used' }));
    const answered = new Promise<string>((resolve) => {
      first.socket.heard = () => resolve(first.socket.last);
    });
    watcher.client.frame(
      JSON.stringify({ type: 'bootstrap_ack', jti: 'bt_twice', publicKey: 'cpk' }),
    );
    await answered;
    expect(JSON.parse(first.socket.last)).toEqual({
      type: 'bootstrap_ack',
      jti: 'bt_twice',
      controllerPubKey: 'cpk',
    });
    expect(relay.inFlight).toBe(0);
  });
});
