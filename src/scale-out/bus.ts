import type { SharedStore } from './shared-store.js';
import { encodeWire, type WireBody } from './wire.js';

/** Messages to other instances, over their Redis channels. */
export interface Bus {
  readonly self: string;
  /** Resolves with how many subscribers heard it (0: that instance is gone); rejects if Redis failed. */
  send(to: string, body: WireBody): Promise<number>;
  /** Fire and forget, for messages where nobody hearing them changes nothing. */
  tell(to: string, body: WireBody): void;
}

export function redisBus(store: SharedStore): Bus {
  const self = store.instanceId;
  const send = (to: string, body: WireBody): Promise<number> =>
    store.publish(store.channel(to), encodeWire(self, body));
  return {
    self,
    send,
    tell(to, body) {
      send(to, body).catch(() => undefined);
    },
  };
}
