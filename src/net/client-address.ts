import type { IncomingMessage } from 'node:http';
import { lazyRequire } from '../lazy-require.js';
import type IpAddr from 'ipaddr.js';
import type ProxyAddr from 'proxy-addr';
import type { TrustProxySetting } from '../config/options.js';

// Loaded on first use: a relay that trusts no proxy and sees no IPv6 never
// pays for them at cold start (scale-to-zero pays cold start per pairing).
let proxyaddrModule: typeof ProxyAddr | undefined;
let ipaddrModule: typeof IpAddr | undefined;
const proxyaddr = (): typeof ProxyAddr =>
  (proxyaddrModule ??= lazyRequire<typeof ProxyAddr>('proxy-addr'));
const ipaddr = (): typeof IpAddr => (ipaddrModule ??= lazyRequire<typeof IpAddr>('ipaddr.js'));

// node:net (for isIP) is a large part of a cold start under Bun; the same
// rules in a few lines: Node's IPv4 form, and IPv6 (zone id allowed) by ipaddr.js.
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;
const ZONE = /^%[0-9a-zA-Z\-.:]+$/;

/** 4, 6 or 0, as node:net's isIP() answers. */
function isIP(addr: string): 0 | 4 | 6 {
  if (IPV4.test(addr)) return 4;
  if (!addr.includes(':')) return 0;
  const zone = addr.indexOf('%');
  if (zone !== -1 && !ZONE.test(addr.slice(zone))) return 0;
  return ipaddr().IPv6.isValid(zone === -1 ? addr : addr.slice(0, zone)) ? 6 : 0;
}

/**
 * proxy-addr's trust predicate: should the address at this hop be believed?
 * A hop-count setting also carries its count (0 for no proxy), which lets
 * clientKey() walk X-Forwarded-For itself.
 */
export type TrustFn = ((addr: string, hop: number) => boolean) & { readonly hops?: number };

const OFF = new Set(['', '0', 'false', 'no']);
const ONE_HOP = new Set(['1', 'true', 'yes']);
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

const trustNone: TrustFn = Object.assign(() => false, { hops: 0 });

function trustHops(hops: number): TrustFn {
  if (hops === 0) return trustNone;
  return Object.assign((_addr: string, hop: number) => hop < hops, { hops });
}

/**
 * Compiles the AMESH_TRUST_PROXY forms once, at start-up, so that a bad value
 * refuses to start instead of failing at the first request.
 */
export function compileTrust(setting: TrustProxySetting): TrustFn {
  if (typeof setting === 'boolean') return setting ? trustHops(1) : trustNone;
  if (typeof setting === 'number') {
    if (!Number.isInteger(setting) || setting < 0) {
      throw new TypeError(`trustProxy: a hop count must be a non-negative integer, got ${setting}`);
    }
    return trustHops(setting);
  }
  if (Array.isArray(setting)) return compileList(setting as readonly string[], String(setting));
  if (typeof setting !== 'string') {
    throw new TypeError('trustProxy: expected a string, number, boolean or list of addresses');
  }
  const value = setting.trim().toLowerCase();
  if (OFF.has(value)) return trustNone;
  if (ONE_HOP.has(value)) return trustHops(1);
  if (/^[0-9]+$/.test(value)) return trustHops(Number(value));
  return compileList(value.split(','), setting);
}

function compileList(entries: readonly string[], original: string): TrustFn {
  const list = entries.map((e) => e.trim()).filter((e) => e !== '');
  const problem =
    list.length === 0 ? 'the list is empty' : list.map(entryProblem).find((p) => p !== undefined);
  if (problem !== undefined) {
    throw new TypeError(
      `trustProxy: "${original}" is not off, 1/true/yes, a hop count, or a list of addresses/CIDRs (${problem})`,
    );
  }
  try {
    return proxyaddr().compile(list);
  } catch (err) {
    throw new TypeError(`trustProxy: "${original}": ${(err as Error).message}`);
  }
}

// proxy-addr alone accepts forms like "0x7f.0.0.1" or "1234567890"; insist on
// plain dotted-quad or IPv6 so an operator's typo is refused, not reinterpreted.
function entryProblem(entry: string): string | undefined {
  if (NAMED_RANGES.has(entry)) return undefined;
  const slash = entry.indexOf('/');
  const addr = slash === -1 ? entry : entry.slice(0, slash);
  if (isIP(addr) === 0) return `"${entry}" is not an IP address`;
  if (slash !== -1) {
    const mask = entry.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(mask) && isIP(mask) === 0) return `"${entry}" has a bad netmask`;
  }
  return undefined;
}

/** Whether a setting believes no proxy at all (the socket peer is the client). */
export function trustsNoProxy(setting: TrustProxySetting): boolean {
  return compileTrust(setting) === trustNone;
}

/**
 * The rate-limit key for a request: the client address proxy-addr believes,
 * never an invalid entry (those fall back towards the socket peer),
 * IPv4-mapped IPv6 folded to IPv4 and IPv6 reduced to its /64.
 */
export function clientKey(req: IncomingMessage, trust: TrustFn): string {
  // node:http joins repeated X-Forwarded-For lines with ", " itself.
  const xff = req.headers['x-forwarded-for'];
  const header = Array.isArray(xff) ? xff.join(', ') : (xff ?? null);
  return clientKeyOf(() => req.socket.remoteAddress, header, trust);
}

/** Filled in by clientKeyOf() when asked: how it reached the key. */
export interface KeyOrigin {
  /** X-Forwarded-For entries the key went through; 0: the socket peer. */
  forwardedHops: number;
}

/**
 * clientKey() from the parts any server has: the socket peer (asked only
 * when needed: under Bun it is a system call) and the X-Forwarded-For header.
 */
export function clientKeyOf(
  peer: () => string | undefined,
  forwardedFor: string | null,
  trust: TrustFn,
  origin?: KeyOrigin,
): string {
  const hops = trust.hops;
  if (origin !== undefined) origin.forwardedHops = 0;
  if (hops === 0) return addressKey(peer()) ?? 'unknown';
  if (hops !== undefined) return hopKey(peer, forwardedFor ?? '', hops, origin);
  // Address lists: proxy-addr decides which hops to believe. From the socket
  // peer outwards, an entry that is not an address breaks the chain, and the
  // last good hop before it is the best we know.
  const req = {
    headers: forwardedFor === null ? {} : { 'x-forwarded-for': forwardedFor },
    socket: { remoteAddress: peer() },
  };
  let best = 'unknown';
  let walked = -1;
  for (const addr of proxyaddr().all(req as unknown as IncomingMessage, trust)) {
    const key = addressKey(addr);
    if (key === undefined) break;
    best = key;
    walked++;
  }
  if (origin !== undefined) origin.forwardedHops = Math.max(walked, 0);
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
 * patterns do: /health runs this, and must not load ipaddr.js at cold start.
 */
export function isInnerKey(key: string): boolean {
  return INNER_V4.test(key) || (key.endsWith('::/64') && INNER_V6.test(key));
}

/**
 * The same answer as the proxy-addr walk above for a hop count, without
 * loading proxy-addr (the common setting: Cloud Run and one ingress are
 * AMESH_TRUST_PROXY=1). The n right-most entries, nearest first, stop at the
 * first that is not an address. The socket peer is asked for only when no
 * entry stands: it is always an address on a TCP listener.
 */
function hopKey(
  peer: () => string | undefined,
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
  if (best === undefined) return addressKey(peer()) ?? 'unknown';
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
  let ip: IpAddr.IPv6;
  try {
    ip = ipaddr().IPv6.parse(zone === -1 ? addr : addr.slice(0, zone));
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
