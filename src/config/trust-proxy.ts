import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';

/** `AMESH_TRUST_PROXY` syntax as a string, a hop count, on/off, or an address list. */
export type TrustProxySetting = string | number | boolean | readonly string[];

// node:net's isIP() in a few lines, so that config/ runs wherever the Web
// platform does (a Worker has no node:net): Node's IPv4 form, and IPv6 (zone
// id allowed) by ipaddr.js.
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;
const ZONE = /^%[0-9a-zA-Z\-.:]+$/;

/** 4, 6 or 0, as node:net's isIP() answers. */
export function isIP(addr: string): 0 | 4 | 6 {
  if (IPV4.test(addr)) return 4;
  if (!addr.includes(':')) return 0;
  const zone = addr.indexOf('%');
  if (zone !== -1 && !ZONE.test(addr.slice(zone))) return 0;
  return ipaddr.IPv6.isValid(zone === -1 ? addr : addr.slice(0, zone)) ? 6 : 0;
}

/**
 * proxy-addr's trust predicate (what its compile() returns): should the
 * address at this hop be believed? A hop-count setting also carries its count
 * (0 for no proxy): a function of our own, so the key can be found without
 * asking the predicate hop by hop.
 */
export type TrustFn = ((addr: string, hop: number) => boolean) & { readonly hops?: number };

// 'off': what --help and the docs show as the default, so it must mean that.
const OFF = new Set(['', '0', 'false', 'no', 'off']);
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
      `trustProxy: "${original}" is not 0/false/no/off, 1/true/yes, a hop count, or a list of addresses/CIDRs (${problem})`,
    );
  }
  try {
    return proxyaddr.compile(list);
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
