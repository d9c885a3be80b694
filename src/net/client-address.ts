import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import { isIP, type TrustFn } from '../config/trust-proxy.js';

/**
 * The rate-limit key for a request: the client address proxy-addr believes,
 * never an invalid entry (those fall back towards the socket peer),
 * IPv4-mapped IPv6 folded to IPv4 and IPv6 reduced to its /64.
 */
export function clientKey(req: IncomingMessage, trust: TrustFn): string {
  // node:http joins repeated X-Forwarded-For lines with ", " itself.
  const xff = req.headers['x-forwarded-for'];
  const header = Array.isArray(xff) ? xff.join(', ') : (xff ?? null);
  return clientKeyOf(req, socketPeer, header, trust);
}

const socketPeer = (req: IncomingMessage): string | undefined => req.socket.remoteAddress;

/** Filled in by clientKeyOf() when asked: how it reached the key. */
export interface KeyOrigin {
  /** X-Forwarded-For entries the key went through; 0: the socket peer. */
  forwardedHops: number;
}

/**
 * clientKey() from the parts any server has: the socket peer, read from
 * `source` by `peerOf` only when needed (under Bun it is a system call), and
 * the X-Forwarded-For header. A source and a reader rather than a closure:
 * this runs at every upgrade, and a closure and its scope per call were
 * garbage an idle relay's RSS still held (bun:jsc heapStats).
 */
export function clientKeyOf<S>(
  source: S,
  peerOf: (source: S) => string | undefined,
  forwardedFor: string | null,
  trust: TrustFn,
  origin?: KeyOrigin,
): string {
  const hops = trust.hops;
  if (origin !== undefined) origin.forwardedHops = 0;
  if (hops === 0) return addressKey(peerOf(source)) ?? 'unknown';
  if (hops !== undefined) return hopKey(source, peerOf, forwardedFor ?? '', hops, origin);
  // Address lists: proxy-addr's compiled predicate decides which hops to
  // believe, asked as its all() asks it (hop i is the address the request
  // came through at distance i, 0 the socket peer). all() itself reads a
  // node:http request and Bun has none, so the walk is ours
  // (jshttp/proxy-addr takes only an IncomingMessage). An entry that is not
  // an address breaks the chain: the last good hop before it is the best we know.
  let through = peerOf(source);
  let best = addressKey(through);
  if (best === undefined) return 'unknown';
  let walked = 0;
  if (forwardedFor !== null) {
    forEachForwarded(forwardedFor, (entry) => {
      if (!trust(through as string, walked)) return false;
      const key = addressKey(entry);
      if (key === undefined) return false;
      best = key;
      through = entry;
      walked++;
      return true;
    });
  }
  if (origin !== undefined) origin.forwardedHops = walked;
  return best;
}

// 10/8, 172.16/12, 192.168/16 (private), 100.64/10 (CGNAT), 169.254/16 (link-local).
const INNER_V4 =
  /^(?:10\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|169\.254\.)/;
// fc00::/7 (unique local), fe80::/10 (link-local), on a key's first group.
const INNER_V6 = /^(?:f[cd][0-9a-f]{2}|fe[89ab][0-9a-f]):/i;

/**
 * A key in a private, shared or link-local range (not loopback): behind a
 * proxy, that is the proxy's own address on an inner network. Keys are
 * already normalised (IPv4, or an IPv6 /64 as "a:b:c:d::/64"), so plain
 * patterns do, with no address parsed on a /health request.
 */
export function isInnerKey(key: string): boolean {
  return INNER_V4.test(key) || (key.endsWith('::/64') && INNER_V6.test(key));
}

/**
 * The same answer as the proxy-addr walk above for a hop count, without
 * parsing every entry and asking a trust function of each (the common
 * setting: Cloud Run and one ingress are AMESH_TRUST_PROXY=1). The n right-most entries, nearest first, stop at the
 * first that is not an address. The socket peer is asked for only when no
 * entry stands: it is always an address on a TCP listener.
 */
function hopKey<S>(
  source: S,
  peerOf: (source: S) => string | undefined,
  header: string,
  hops: number,
  origin: KeyOrigin | undefined,
): string {
  let best: string | undefined;
  let taken = 0;
  forEachForwarded(header, (entry) => {
    const key = addressKey(entry);
    if (key !== undefined) best = key;
    return key !== undefined && ++taken < hops;
  });
  if (best === undefined) return addressKey(peerOf(source)) ?? 'unknown';
  if (origin !== undefined) origin.forwardedHops = taken;
  return best;
}

/**
 * X-Forwarded-For entries right to left, split as the `forwarded` package
 * (proxy-addr's) splits them: commas separate, spaces around an entry are
 * dropped, empty entries are skipped. Stops when `each` answers false.
 */
export function forEachForwarded(header: string, each: (entry: string) => boolean): void {
  let end = header.length;
  let start = end;
  for (let i = header.length - 1; i >= 0; i--) {
    const c = header.charCodeAt(i);
    if (c === 0x20) {
      if (start === end) start = end = i;
    } else if (c === 0x2c) {
      if (start !== end && !each(header.substring(start, end))) return;
      start = end = i;
    } else {
      start = i;
    }
  }
  if (start !== end) each(header.substring(start, end));
}

/** Normalises one address to its key, or undefined if it is not an IP address. */
export function addressKey(addr: string | undefined): string | undefined {
  if (addr === undefined) return undefined;
  const family = isIP(addr);
  if (family === 4) return addr;
  if (family !== 6) return undefined;
  // net.isIP() accepts zone ids that ipaddr.js refuses ("fe80::1%1.2.3.4"):
  // drop the zone (it only names a local interface) and never let a parse throw.
  const zone = addr.indexOf('%');
  let ip: ipaddr.IPv6;
  try {
    ip = ipaddr.IPv6.parse(zone === -1 ? addr : addr.slice(0, zone));
  } catch {
    return undefined;
  }
  if (ip.isIPv4MappedAddress()) return ip.toIPv4Address().toString();
  // One customer usually holds a whole /64; rotating inside it buys nothing.
  const p = ip.parts;
  return `${hex(p[0])}:${hex(p[1])}:${hex(p[2])}:${hex(p[3])}::/64`;
}

function hex(n: number | undefined): string {
  return (n ?? 0).toString(16);
}
