import { afterEach, describe, expect, it } from 'vitest';
import {
  asClient,
  cleanup,
  delay,
  pair,
  startRelay,
  wsConnect,
  settles,
  type TestClient,
} from './helpers/relay.js';
import { captureLog } from './helpers/log-capture.js';
import { transport } from './helpers/transports.js';

afterEach(cleanup);

const from = (addr: string): Record<string, string> => ({ 'x-forwarded-for': addr });

/** Sends a connect for `otc` and returns the code of the relay's answer. */
async function connectCode(client: TestClient, otc: string): Promise<unknown> {
  client.send({ type: 'connect', otc });
  return (await client.next())['code'];
}

/** With a budget of one failure: `a` spends it and is limited, `b` still has its own. */
async function expectSeparateBuckets(a: TestClient, b: TestClient): Promise<void> {
  expect(await connectCode(a, '111111')).toBe('otc_not_found');
  expect(await connectCode(a, '111112')).toBe('rate_limited');
  expect(await connectCode(b, '111113')).toBe('otc_not_found');
}

describe('failed listen/connect per address', () => {
  it('5 failures, then rate_limited until the window ends', async () => {
    // Long enough for seven round trips through the slowest transport (the
    // edge's, on a loaded machine) to stay inside one window.
    const { url } = await startRelay({ failedAttemptWindowMs: 1_200 });
    const guesser = await wsConnect(url);
    for (let i = 0; i < 5; i++) {
      guesser.send({ type: 'connect', otc: String(100000 + i) });
      expect(await guesser.next()).toEqual({ type: 'error', code: 'otc_not_found' });
    }
    guesser.send({ type: 'connect', otc: '100009' });
    expect(await guesser.next()).toEqual({ type: 'error', code: 'rate_limited' });
    // Even a code that exists is refused while limited.
    const target = await wsConnect(url);
    target.send({ type: 'listen', otc: '999999' });
    expect(await target.next()).toEqual({ type: 'error', code: 'rate_limited' });
    await delay(1_250);
    target.send({ type: 'listen', otc: '999999' });
    expect(await target.next()).toEqual({ type: 'ack', message: 'session_open' });
  });

  it('successes never spend the budget of a person pairing normally', async () => {
    const { url } = await startRelay({ failedAttemptsPerIp: 2 });
    for (let i = 0; i < 8; i++) {
      const { target, controller } = await pair(url, String(700000 + i));
      controller.send({ type: 'done' });
      await target.next();
    }
  });

  it('listens that never pair are failures: probing which codes are live is not free', async () => {
    const { url } = await startRelay();
    const prober = await wsConnect(url);
    const replies: unknown[] = [];
    for (let i = 0; i < 7; i++) {
      prober.send({ type: 'listen', otc: String(400000 + i) });
      const reply = await prober.next();
      replies.push(reply['type'] === 'ack' ? 'ack' : reply['code']);
      prober.send({ type: 'done' }); // cancel before anyone connects
    }
    expect(replies).toEqual(['ack', 'ack', 'ack', 'ack', 'ack', 'rate_limited', 'rate_limited']);
  });

  it('concurrent guesses from one address cannot overshoot the budget', async () => {
    const { url } = await startRelay({ maxSocketsPerIp: 64 });
    const sockets = await Promise.all(Array.from({ length: 30 }, () => wsConnect(url)));
    sockets.forEach((s, i) => s.send({ type: 'connect', otc: String(200000 + i) }));
    const replies = await Promise.all(sockets.map((s) => s.next()));
    const notFound = replies.filter((r) => r['code'] === 'otc_not_found').length;
    const limited = replies.filter((r) => r['code'] === 'rate_limited').length;
    expect(notFound).toBe(5);
    expect(limited).toBe(25);
  });

  it('clients from different addresses have separate buckets', async () => {
    const { url } = await startRelay({ failedAttemptsPerIp: 1 });
    await expectSeparateBuckets(
      await wsConnect(url, {}, asClient(2)),
      await wsConnect(url, {}, asClient(3)),
    );
  });

  it.skipIf(!transport.has('forwardedFor'))(
    'addresses have separate buckets behind a trusted proxy (needs X-Forwarded-For)',
    async () => {
      const { url } = await startRelay({ trustProxy: 1, failedAttemptsPerIp: 1 });
      await expectSeparateBuckets(
        await wsConnect(url, from('203.0.113.1')),
        await wsConnect(url, from('203.0.113.2')),
      );
    },
  );

  it.skipIf(!transport.has('forwardedFor'))(
    'a client writing its own X-Forwarded-For behind one hop gets no new bucket (needs X-Forwarded-For)',
    async () => {
      const { url } = await startRelay({ trustProxy: 1, failedAttemptsPerIp: 3 });
      const replies: unknown[] = [];
      for (let i = 0; i < 6; i++) {
        // The client wrote "10.9.9.i"; the trusted proxy appended the real 203.0.113.50.
        const c = await wsConnect(url, from(`10.9.9.${i}, 203.0.113.50`));
        replies.push(await connectCode(c, String(300000 + i)));
        c.close();
      }
      expect(replies).toEqual([
        ...Array(3).fill('otc_not_found'),
        ...Array(3).fill('rate_limited'),
      ]);
    },
  );

  it('without trust, X-Forwarded-For is ignored entirely', async () => {
    const { url } = await startRelay({ failedAttemptsPerIp: 1 });
    const a = await wsConnect(url, from('203.0.113.1'));
    expect(await connectCode(a, '121212')).toBe('otc_not_found');
    const b = await wsConnect(url, from('203.0.113.2'));
    expect(await connectCode(b, '121213')).toBe('rate_limited');
  });

  it.skipIf(!transport.has('forwardedFor'))(
    'IPv6 addresses rotating inside one /64 share a bucket (needs X-Forwarded-For)',
    async () => {
      const { url } = await startRelay({ trustProxy: 1, failedAttemptsPerIp: 2 });
      const codes: unknown[] = [];
      for (const addr of ['2001:db8:a:b::1', '2001:db8:a:b::2', '2001:db8:a:b:c:d:e:f']) {
        codes.push(await connectCode(await wsConnect(url, from(addr)), '131313'));
      }
      expect(codes).toEqual(['otc_not_found', 'otc_not_found', 'rate_limited']);
    },
  );
});

describe('brute force on one code, from many addresses', () => {
  it('5 failed attempts burn the code: a later listen or connect never pairs', async () => {
    const { url } = await startRelay();
    for (let i = 0; i < 5; i++) {
      const c = await wsConnect(url, {}, asClient(10 + i));
      expect(await connectCode(c, '654321')).toBe('otc_not_found');
    }
    const target = await wsConnect(url, {}, asClient(2));
    target.send({ type: 'listen', otc: '654321' });
    expect(await target.next()).toEqual({ type: 'error', code: 'otc_in_use' });
    const controller = await wsConnect(url, {}, asClient(3));
    controller.send({ type: 'connect', otc: '654321' });
    expect(await controller.next()).toEqual({ type: 'error', code: 'otc_not_found' });
    // Other codes are untouched.
    target.send({ type: 'listen', otc: '654322' });
    expect(await target.next()).toEqual({ type: 'ack', message: 'session_open' });
  });

  it('the burn lasts only for the window', async () => {
    const { url } = await startRelay({
      codeFailureLimit: 2,
      failedAttemptWindowMs: 300,
    });
    for (let i = 0; i < 2; i++) {
      const c = await wsConnect(url, {}, asClient(10 + i));
      c.send({ type: 'connect', otc: '565656' });
      await c.next();
    }
    const target = await wsConnect(url, {}, asClient(4));
    target.send({ type: 'listen', otc: '565656' });
    expect(await target.next()).toMatchObject({ code: 'otc_in_use' });
    await delay(350);
    target.send({ type: 'listen', otc: '565656' });
    expect(await target.next()).toEqual({ type: 'ack', message: 'session_open' });
  });

  it('a live, unpaired code that collects 5 failures is ended', async () => {
    const { url, relay } = await startRelay();
    const target = await wsConnect(url, {}, asClient(5));
    target.send({ type: 'listen', otc: '787878' });
    await target.next();
    for (let i = 0; i < 5; i++) {
      const c = await wsConnect(url, {}, asClient(10 + i));
      c.send({ type: 'listen', otc: '787878' });
      expect(await c.next()).toMatchObject({ code: 'otc_in_use' });
    }
    expect(await target.next()).toEqual({ type: 'error', code: 'otc_expired' });
    await settles(() => relay.sessions, 0);
    const controller = await wsConnect(url, {}, asClient(6));
    controller.send({ type: 'connect', otc: '787878' });
    expect(await controller.next()).toEqual({ type: 'error', code: 'otc_not_found' });
  });

  it('a paired session is not disturbed by failures on its code', async () => {
    const { url } = await startRelay();
    const { target, controller } = await pair(url, '989898');
    const codes: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push(await connectCode(await wsConnect(url, {}, asClient(10 + i)), '989898'));
    }
    // Five misses burn the code; from then on it answers like an absent one.
    expect(codes).toEqual([...Array(5).fill('peer_already_connected'), 'otc_not_found']);
    target.send({ type: 'data', payload: 'still here' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'still here' });
  });
});

describe('bootstrap_watch per address', () => {
  it('10 watches per window, then rate_limited', async () => {
    const { url } = await startRelay();
    const c = await wsConnect(url);
    for (let i = 0; i < 10; i++) {
      c.send({ type: 'bootstrap_watch', jti: `w${i}` });
      expect(await c.next()).toEqual({ type: 'bootstrap_watching', jti: `w${i}` });
    }
    c.send({ type: 'bootstrap_watch', jti: 'w10' });
    expect(await c.next()).toEqual({ type: 'error', code: 'rate_limited' });
  });
});

it.skipIf(!transport.has('logs'))(
  'a client refused 50 times is logged once, not 50 times (needs the relay log lines)',
  async () => {
    const { logger, lines } = captureLog('warn');
    const { url } = await startRelay({ logger, failedAttemptsPerIp: 1 });
    const client = await wsConnect(url);
    expect(await connectCode(client, '222221')).toBe('otc_not_found');
    for (let i = 0; i < 50; i++) expect(await connectCode(client, '222222')).toBe('rate_limited');
    const refused = lines().filter((l) => l['msg'] === 'rate limited: failed attempts');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ client: '127.0.0.1', action: 'connect' });
  },
);
