import type { JtiLedger } from '../limits/jti-ledger.js';
import type { SharedStore } from './shared-store.js';

/** How long a burned jti waits for a replica's acknowledgement (WAIT blocks the connection). */
const WAIT_MS = 100;

/**
 * Behind Sentinel, replication is asynchronous: a jti burned just before the
 * primary dies could vanish with it and be replayable on the promoted
 * replica. WAIT for one replica narrows that window to the jtis a replica
 * did not take within WAIT_MS (docs/scale-out.md says so); the local ledger
 * still refuses a replay on this instance.
 */
async function replicated(store: SharedStore): Promise<void> {
  await store.bounded(store.command.call('WAIT', '1', String(WAIT_MS))).catch(() => 0);
}

/**
 * Used jtis in Redis (SET NX PX: atomic, expires by itself), keyed by HMAC.
 * While Redis is away the local ledger stands in, so a replay on this
 * instance is still refused.
 */
export function redisLedger(store: SharedStore, ttlMs: number, local: JtiLedger): JtiLedger {
  return {
    async isUsed(jti) {
      try {
        return (
          (await store.bounded(store.command.exists(store.key('jti', jti)))) === 1 ||
          (await local.isUsed(jti))
        );
      } catch {
        return local.isUsed(jti);
      }
    },
    async consume(jti) {
      const mine = await local.consume(jti);
      if (mine !== 'ok') return mine;
      try {
        const set = await store.bounded(
          store.command.set(store.key('jti', jti), '1', 'PX', ttlMs, 'NX'),
        );
        if (set !== 'OK') return 'used';
        if (store.topology === 'sentinel') await replicated(store);
        return 'ok';
      } catch {
        return 'ok';
      }
    },
    get size() {
      return local.size;
    },
    clear() {
      local.clear();
    },
  };
}
