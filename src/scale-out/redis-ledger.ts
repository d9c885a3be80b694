import type { JtiLedger } from '../limits/jti-ledger.js';
import type { SharedStore } from './shared-store.js';

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
        return set === 'OK' ? 'ok' : 'used';
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
