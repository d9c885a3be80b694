import { clientKeyOf, forEachForwarded, isInnerKey, type KeyOrigin } from './client-address.js';
import type { TrustFn } from '../config/trust-proxy.js';

const itself = (address: string | undefined): string | undefined => address;

/** The /health response header that tells a requester how the relay sees it. */
export const CLIENT_ECHO_HEADER = 'x-relay-client';

/**
 * `key=<key>; from=socket|forwarded; forwarded=<n>`: the rate-limit key the
 * relay computes for this very request, whether it came from the socket
 * peer or from X-Forwarded-For, and how many X-Forwarded-For entries
 * arrived. `pairing-relay check` compares it with its own view to tell
 * whether the relay tells clients apart behind its proxy.
 *
 * It tells the requester nothing it does not know: a forwarded key is what
 * it or its own proxy wrote; a socket key is its own address, or the
 * address of the proxy in front. That last one, when it is on an inner
 * network (private, CGNAT, link-local, unique-local), is shown only as
 * `private`: the verdict needs the class, not the address.
 */
export function clientEcho(
  remoteAddress: string | undefined,
  forwardedFor: string | undefined,
  trust: TrustFn,
): string {
  const header = forwardedFor === undefined ? null : forwardedFor;
  const origin: KeyOrigin = { forwardedHops: 0 };
  const key = clientKeyOf(remoteAddress, itself, header, trust, origin);
  // Counted as the key's own walk splits the header.
  let entries = 0;
  if (header !== null) {
    forEachForwarded(header, () => {
      entries++;
      return true;
    });
  }
  const from = origin.forwardedHops > 0 ? 'forwarded' : 'socket';
  const shown = from === 'socket' && isInnerKey(key) ? 'private' : key;
  return `key=${shown}; from=${from}; forwarded=${entries}`;
}
