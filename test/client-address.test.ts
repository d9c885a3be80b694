// Transport-independent: trust-proxy forms and client keys, pure functions; no socket.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { compileTrust } from '../src/config/trust-proxy.js';
import proxyaddr from 'proxy-addr';
import { addressKey, clientKey, clientKeyOf } from '../src/net/client-address.js';
import type { TrustProxySetting } from '../src/config/options.js';

// clientKey is a pure function of a request's socket address and headers;
// these plain objects carry exactly those two fields.
function req(remoteAddress: string, xff?: string): IncomingMessage {
  const headers: Record<string, string> = {};
  if (xff !== undefined) headers['x-forwarded-for'] = xff;
  return {
    headers,
    socket: { remoteAddress },
    connection: { remoteAddress },
  } as unknown as IncomingMessage;
}

const key = (setting: TrustProxySetting, remote: string, xff?: string): string =>
  clientKey(req(remote, xff), compileTrust(setting));

describe('AMESH_TRUST_PROXY forms', () => {
  const table: Array<[string, TrustProxySetting, string, string | undefined, string]> = [
    // name, setting, socket peer, X-Forwarded-For, expected key
    ['unset: socket peer', '', '10.0.0.1', '1.2.3.4', '10.0.0.1'],
    ['0', '0', '10.0.0.1', '1.2.3.4', '10.0.0.1'],
    ['false', 'false', '10.0.0.1', '1.2.3.4', '10.0.0.1'],
    ['no', 'no', '10.0.0.1', '1.2.3.4', '10.0.0.1'],
    ['off (the default --help shows)', 'off', '10.0.0.1', '1.2.3.4', '10.0.0.1'],
    ['FALSE (case-insensitive)', 'FALSE', '10.0.0.1', '1.2.3.4', '10.0.0.1'],
    ['boolean false', false, '10.0.0.1', '1.2.3.4', '10.0.0.1'],
    ['1: right-most entry', '1', '10.0.0.1', '6.6.6.6, 1.2.3.4', '1.2.3.4'],
    ['true', 'true', '10.0.0.1', '6.6.6.6, 1.2.3.4', '1.2.3.4'],
    ['yes', 'yes', '10.0.0.1', '6.6.6.6, 1.2.3.4', '1.2.3.4'],
    ['boolean true', true, '10.0.0.1', '6.6.6.6, 1.2.3.4', '1.2.3.4'],
    ['number 1', 1, '10.0.0.1', '6.6.6.6, 1.2.3.4', '1.2.3.4'],
    ['1 hop, no header: socket peer', '1', '10.0.0.1', undefined, '10.0.0.1'],
    ['2 hops', '2', '10.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.2', '1.2.3.4'],
    ['2 hops, short header', '2', '10.0.0.1', '1.2.3.4', '1.2.3.4'],
    ['list: trusted peer', 'loopback, 10.0.0.0/8', '10.0.0.1', '6.6.6.6, 1.2.3.4', '1.2.3.4'],
    ['list: walks trusted hops', '10.0.0.0/8', '10.0.0.1', '1.2.3.4, 10.0.0.7', '1.2.3.4'],
    ['list: untrusted peer ignores header', '10.0.0.0/8', '192.0.2.1', '1.2.3.4', '192.0.2.1'],
    ['array list', ['127.0.0.1', '10.0.0.0/8'], '10.0.0.1', '1.2.3.4', '1.2.3.4'],
    ['IPv6 list', '2001:db8::/32', '2001:db8::1', '1.2.3.4', '1.2.3.4'],
    ['netmask form', '10.0.0.0/255.0.0.0', '10.0.0.1', '1.2.3.4', '1.2.3.4'],
  ];
  it.each(table)('%s', (_name, setting, remote, xff, expected) => {
    expect(key(setting, remote, xff)).toBe(expected);
  });

  const invalid: TrustProxySetting[] = [
    'maybe',
    '-1',
    '1.5',
    '0x7f.0.0.1',
    '1,2',
    '10.0.0.0/99',
    '10.0.0.0/abc',
    'loopback, nonsense',
    ',',
    -1,
    1.5,
    ['not-an-ip'],
  ];
  it.each(invalid.map((v) => [JSON.stringify(v), v]))('refuses %s', (_name, setting) => {
    expect(() => compileTrust(setting)).toThrow(/trustProxy/);
  });
});

describe('spoofing attempts', () => {
  it('behind one hop, the client-written left part never becomes the key', () => {
    for (const forged of ['1.1.1.1', '1.1.1.1, 2.2.2.2', 'garbage', '::1', '127.0.0.1']) {
      expect(key('1', '10.0.0.1', `${forged}, 203.0.113.9`)).toBe('203.0.113.9');
    }
  });

  it('an invalid right-most entry falls back to the hop that sent it', () => {
    expect(key('1', '10.0.0.1', 'garbage')).toBe('10.0.0.1');
    expect(key('1', '10.0.0.1', '1.2.3.4:5678')).toBe('10.0.0.1');
    expect(key('1', '10.0.0.1', '[2001:db8::1]')).toBe('10.0.0.1');
    expect(key('1', '10.0.0.1', '')).toBe('10.0.0.1');
    expect(key('2', '10.0.0.1', '1.2.3.4, nonsense')).toBe('10.0.0.1');
    expect(key('1', '10.0.0.1', '0x01020304')).toBe('10.0.0.1');
    // Zone ids net.isIP() accepts but ipaddr.js refuses must not throw: the
    // zone (a local interface name) is dropped.
    expect(key('1', '10.0.0.1', 'fe80::1%1.2.3.4')).toBe('fe80:0:0:0::/64');
    expect(key('1', '10.0.0.1', 'fe80::1%::1')).toBe('fe80:0:0:0::/64');
  });

  it('untrusted peers cannot pick a bucket with the header', () => {
    expect(key('', '203.0.113.5', '1.2.3.4')).toBe('203.0.113.5');
    expect(key('10.0.0.0/8', '203.0.113.5', '10.0.0.9, 1.2.3.4')).toBe('203.0.113.5');
  });
});

describe('address keys', () => {
  const table: Array<[string, string | undefined]> = [
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['not an ip', undefined],
    ['1.2.3', undefined],
    ['', undefined],
  ];
  it.each(table)('%s → %s', (addr, expected) => {
    expect(addressKey(addr)).toBe(expected);
  });

  it('IPv4-mapped socket peers are folded', () => {
    expect(key('', '::ffff:198.51.100.3')).toBe('198.51.100.3');
  });
});

describe('the X-Forwarded-For walk, against proxy-addr', () => {
  // The relay walks X-Forwarded-For itself (proxy-addr's all() needs a
  // node:http request; Bun has none). The oracle here is proxy-addr's own
  // all() on the same request, then the relay's rule for a bad entry: the
  // last address before it is the best known.
  const oracle = (r: IncomingMessage, trust: (addr: string, i: number) => boolean): string => {
    let best = 'unknown';
    for (const addr of proxyaddr.all(r, trust)) {
      const k = addressKey(addr);
      if (k === undefined) break;
      best = k;
    }
    return best;
  };
  const PIECES = [
    '1.2.3.4',
    '5.6.7.8',
    '10.1.2.3',
    '2001:db8::7',
    '::ffff:9.9.9.9',
    'junk',
    'unknown',
    '',
  ];
  const SEPARATORS = [',', ', ', ' ,', ',,', ' ', '  , '];
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const headers: string[] = [];
  for (let i = 0; i < 2000; i++) {
    let h = rand(4) === 0 ? ' ' : '';
    const parts = 1 + rand(5);
    for (let p = 0; p < parts; p++) {
      h += PIECES[rand(PIECES.length)];
      if (p < parts - 1 || rand(5) === 0) h += SEPARATORS[rand(SEPARATORS.length)];
    }
    headers.push(h);
  }

  it.each([1, 2, 3])('%i hop(s): the same key as proxy-addr for 2000 random headers', (hops) => {
    const trust = compileTrust(hops);
    let differing = 0;
    for (const h of headers) {
      const r = req('10.0.0.1', h);
      const a = clientKey(r, trust);
      if (a !== oracle(r, trust)) differing++;
      expect(a, JSON.stringify(h)).toBe(oracle(r, trust));
    }
    expect(differing).toBe(0);
  });

  it.each(['10.0.0.0/8', '10.0.0.0/8, 5.6.7.8', 'loopback, 10.0.0.0/8, 2001:db8::/32'])(
    'list %s: the same key as proxy-addr for 2000 random headers',
    (list) => {
      const trust = compileTrust(list);
      for (const peer of ['10.0.0.1', '127.0.0.1', '203.0.113.9']) {
        for (const h of headers) {
          const r = req(peer, h);
          expect(clientKey(r, trust), `${peer} ${JSON.stringify(h)}`).toBe(oracle(r, trust));
        }
      }
    },
  );

  it('asks for the socket peer only when no forwarded entry stands', () => {
    let asked = 0;
    const socket = { address: '10.0.0.1' };
    const peer = (source: typeof socket): string => {
      asked++;
      return source.address;
    };
    expect(clientKeyOf(socket, peer, '6.6.6.6, 1.2.3.4', compileTrust(1))).toBe('1.2.3.4');
    expect(asked).toBe(0);
    expect(clientKeyOf(socket, peer, 'junk', compileTrust(1))).toBe('10.0.0.1');
    expect(clientKeyOf(socket, peer, null, compileTrust(1))).toBe('10.0.0.1');
    expect(asked).toBe(2);
  });
});
