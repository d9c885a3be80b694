import type { StepResult } from './report.js';

/** A documentation address (TEST-NET-2, RFC 5737): never a real client's. */
export const FORGED_ADDRESS = '198.51.100.77';

export interface Echo {
  key: string;
  from: 'socket' | 'forwarded';
  forwarded: number;
}

/** Parses `key=...; from=...; forwarded=N` (the relay's x-relay-client header). */
export function parseEcho(header: string | string[] | undefined): Echo | undefined {
  if (typeof header !== 'string') return undefined;
  const fields = new Map(
    header.split(';').map((part) => {
      const eq = part.indexOf('=');
      return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()] as const;
    }),
  );
  const key = fields.get('key');
  const from = fields.get('from');
  const forwarded = Number(fields.get('forwarded'));
  if (
    key === undefined ||
    (from !== 'socket' && from !== 'forwarded') ||
    !Number.isInteger(forwarded)
  ) {
    return undefined;
  }
  return { key, from, forwarded };
}

const LOOPBACK = /^(127\.|::1$|0:0:0:0::)/;
const isLoopback = (addr: string): boolean => LOOPBACK.test(addr);
const INNER =
  /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|169\.254\.|f[cd]|fe80)/i;
/** An address on a loopback or inner network: where check runs next to the relay. */
const isLocal = (addr: string): boolean => isLoopback(addr) || INNER.test(addr);

const SET_TRUST =
  'set AMESH_TRUST_PROXY=1 on the relay (--trust-proxy 1; or the hop count of appending proxies)';

/**
 * Whether the relay tells clients apart: `plain` is how it saw a normal
 * request, `forged` how it saw one carrying a made-up X-Forwarded-For, and
 * `targetAddress` where this check connected. Only what the requester can
 * know about itself is compared.
 */
export function clientKeyVerdict(
  plain: Echo | undefined,
  forged: Echo | undefined,
  targetAddress: string | undefined,
): StepResult {
  const step = 'client-key';
  if (plain === undefined || forged === undefined) {
    return {
      step,
      status: 'skip',
      summary:
        'the relay does not say how it sees clients (no x-relay-client header on /health: an older relay, or a proxy strips it)',
    };
  }
  if (forged.key === FORGED_ADDRESS) {
    return {
      step,
      status: 'fail',
      summary: `the relay keyed a request on the X-Forwarded-For this check wrote itself (${FORGED_ADDRESS}): any client can pick its own rate-limit bucket`,
      hint: 'AMESH_TRUST_PROXY trusts more hops than there are proxies that append to X-Forwarded-For (or the relay is reachable without its proxy): set it to the number of appending proxies, or unset it when nothing is in front',
    };
  }
  if (plain.from === 'socket' && plain.forwarded > 0) {
    return {
      step,
      status: 'fail',
      summary: `all clients share one bucket: a proxy in front adds X-Forwarded-For, but the relay keys on the proxy's address (${plain.key})`,
      hint: `${SET_TRUST}; until then the sixth failed attempt from anyone locks out everyone`,
    };
  }
  if (
    plain.from === 'socket' &&
    (plain.key === 'private' || isLoopback(plain.key)) &&
    targetAddress !== undefined &&
    !isLocal(targetAddress)
  ) {
    return {
      step,
      status: 'fail',
      summary: `all clients share one bucket: the relay sees this check as ${plain.key === 'private' ? 'an inner-network address' : plain.key} (a proxy's), though it connected from outside`,
      hint: `make the proxy add X-Forwarded-For (nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for), then ${SET_TRUST}`,
    };
  }
  if (forged.key !== plain.key) {
    return {
      step,
      status: 'fail',
      summary: `the relay's key for this client changed with an X-Forwarded-For it wrote (${plain.key} -> ${forged.key})`,
      hint: 'AMESH_TRUST_PROXY trusts more hops than there are appending proxies: lower it',
    };
  }
  const source =
    plain.from === 'forwarded'
      ? `from X-Forwarded-For (${plain.forwarded} entr${plain.forwarded === 1 ? 'y' : 'ies'} arrived)`
      : 'from the connection itself, no proxy in between';
  return {
    step,
    status: 'pass',
    summary: `the relay keys this client on ${plain.key}, ${source}; a forged X-Forwarded-For did not change it`,
  };
}
