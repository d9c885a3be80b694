/** Messages a client may send, after validation by parseFrame(). */
export type ClientMessage =
  | { type: 'listen'; otc: string }
  | { type: 'connect'; otc: string }
  | { type: 'data'; payload: string }
  | { type: 'done' }
  | { type: 'bootstrap_watch'; jti: string }
  | { type: 'bootstrap_init'; jti: string; token: string; targetPubKey: string }
  | { type: 'bootstrap_ack' | 'bootstrap_reject'; jti: string; publicKey: string | undefined };

/** Messages the relay sends. */
export type RelayMessage =
  | { type: 'ack'; message: 'session_open' }
  | { type: 'peer_found' }
  | { type: 'data'; payload: string }
  | { type: 'done' }
  | { type: 'bootstrap_watching'; jti: string }
  | { type: 'bootstrap_init'; jti: string; token: string; targetPubKey: string }
  | { type: 'bootstrap_ack' | 'bootstrap_reject'; jti: string; controllerPubKey?: string }
  | { type: 'bootstrap_reject'; error: 'token_already_used' | 'no_watcher' | 'relay_overloaded' }
  | { type: 'error'; code: import('./errors.js').ErrorCode };

export const ACK_FRAME = JSON.stringify({ type: 'ack', message: 'session_open' });
export const PEER_FOUND_FRAME = JSON.stringify({ type: 'peer_found' });
export const DONE_FRAME = JSON.stringify({ type: 'done' });

/** `data` is the hot path: wrap the payload without building an object. */
export function dataFrame(payload: string): string {
  return '{"type":"data","payload":' + JSON.stringify(payload) + '}';
}

export function encode(message: RelayMessage): string {
  return JSON.stringify(message);
}
