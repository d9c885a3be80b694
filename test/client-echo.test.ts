// Transport-independent: the x-relay-client echo and token parsing, pure functions; no socket.
import { describe, expect, it } from 'vitest';
import { tokenOf } from '../src/admission/access-gate.js';
import { clientKeyVerdict, parseEcho } from '../src/check/client-key.js';
import { compileTrust } from '../src/config/trust-proxy.js';
import { clientEcho } from '../src/net/client-echo.js';

const off = compileTrust('');
const one = compileTrust(1);

describe('x-relay-client', () => {
  it('echoes the key, where it came from and how many X-Forwarded-For entries arrived', () => {
    expect(clientEcho('203.0.113.8', undefined, off)).toBe(
      'key=203.0.113.8; from=socket; forwarded=0',
    );
    expect(clientEcho('127.0.0.1', '198.51.100.1', off)).toBe(
      'key=127.0.0.1; from=socket; forwarded=1',
    );
    expect(clientEcho('10.1.2.3', 'x, 198.51.100.1', one)).toBe(
      'key=198.51.100.1; from=forwarded; forwarded=2',
    );
    expect(clientEcho('::ffff:203.0.113.9', undefined, off)).toBe(
      'key=203.0.113.9; from=socket; forwarded=0',
    );
  });

  it("never shows a proxy's inner-network address, only that it is one", () => {
    for (const inner of [
      '10.0.0.5',
      '172.17.0.1',
      '192.168.1.1',
      '100.64.0.1',
      'fd00::1',
      'fe80::1',
    ]) {
      expect(clientEcho(inner, undefined, off), inner).toMatch(/^key=private; from=socket/);
      expect(clientEcho(inner, '198.51.100.2', off), inner).toMatch(/^key=private; from=socket/);
    }
    // 0xfc is not fc00::/7; a public IPv6 /64 is shown.
    expect(clientEcho('fc::1', undefined, off)).toBe('key=fc:0:0:0::/64; from=socket; forwarded=0');
    expect(clientEcho('2001:db8:1:2::9', undefined, off)).toMatch(/^key=2001:db8:1:2::\/64;/);
    // A forwarded inner address is what the requester's own side wrote: shown.
    expect(clientEcho('127.0.0.1', '10.9.8.7', one)).toBe(
      'key=10.9.8.7; from=forwarded; forwarded=1',
    );
  });
});

describe('check: client-key verdict', () => {
  const echo = (h: string) => parseEcho(h);
  it('parses the header and refuses junk', () => {
    expect(echo('key=1.2.3.4; from=socket; forwarded=0')).toEqual({
      key: '1.2.3.4',
      from: 'socket',
      forwarded: 0,
    });
    expect(echo('key=1.2.3.4; from=elsewhere; forwarded=0')).toBeUndefined();
    expect(parseEcho(undefined)).toBeUndefined();
  });

  it('a loopback or private key seen from a public target address is a shared bucket', () => {
    for (const key of ['127.0.0.1', 'private']) {
      const e = echo(`key=${key}; from=socket; forwarded=0`);
      expect(clientKeyVerdict(e, e, '203.0.113.10').summary).toMatch(
        /^all clients share one bucket/,
      );
      expect(clientKeyVerdict(e, e, '127.0.0.1').status).toBe('pass');
    }
  });

  it('a key that moves with a forged entry, but not to it, is too many hops', () => {
    const plain = echo('key=198.51.100.9; from=forwarded; forwarded=2');
    const forged = echo('key=10.0.0.1; from=forwarded; forwarded=3');
    expect(clientKeyVerdict(plain, forged, '203.0.113.10').status).toBe('fail');
  });

  it('no header: skipped, not failed', () => {
    expect(clientKeyVerdict(undefined, undefined, '203.0.113.10').status).toBe('skip');
  });
});

describe('access token in a request', () => {
  it('Bearer first, then ?token=; nothing else counts', () => {
    expect(tokenOf('Bearer abc', '/ws?token=def')).toBe('abc');
    expect(tokenOf('bearer   abc ', '/ws')).toBe('abc');
    expect(tokenOf('Basic abc', '/ws?token=def')).toBe('def');
    expect(tokenOf(undefined, '/ws?x=1&token=a%2Bb')).toBe('a+b');
    expect(tokenOf(undefined, 'http://h:1/ws?tokens=x')).toBeUndefined();
    expect(tokenOf(undefined, '/ws')).toBeUndefined();
  });
});
