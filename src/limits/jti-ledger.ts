import { ConsumedJtis } from './consumed-jtis.js';

/**
 * Where used bootstrap jtis are burned: this process's memory, or a store
 * shared by every replica (scale-out), so a token is single-use cluster-wide.
 */
export interface JtiLedger {
  isUsed(jti: string): Promise<boolean>;
  /** Burns the jti; 'used' if someone burned it first, 'full' if the store is at its cap. */
  consume(jti: string): Promise<'ok' | 'used' | 'full'>;
  readonly size: number;
  clear(): void;
}

export function memoryLedger(ttlMs: number, max: number): JtiLedger {
  const consumed = new ConsumedJtis(ttlMs, max);
  return {
    async isUsed(jti) {
      return consumed.has(jti);
    },
    async consume(jti) {
      if (consumed.has(jti)) return 'used';
      return consumed.add(jti) ? 'ok' : 'full';
    },
    get size() {
      return consumed.size;
    },
    clear() {
      consumed.clear();
    },
  };
}
