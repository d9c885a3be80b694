import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, eventually, freePort, pair, startRelay, wsConnect } from './helpers/relay.js';
import { transport } from './helpers/transports.js';

afterEach(cleanup);

/** The value of one sample in Prometheus text format, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.skipIf(!transport.has('metrics'))('/metrics (needs metrics)', () => {
  it('is off by default', async () => {
    const { httpUrl } = await startRelay();
    expect((await fetch(httpUrl('/metrics'))).status).toBe(404);
  });

  it('counts real pairings, outcomes, rejections and bytes, with no code or address in it', async () => {
    const { url, httpUrl, relay } = await startRelay({
      metrics: true,
      trustProxy: 1,
      failedAttemptsPerIp: 1,
      pairedTtlMs: 200,
      maxSessionBytes: 600,
    });
    // Two normal pairings ended with done, one partner who leaves, one expiry, one byte cap.
    for (const code of ['918273', '918274']) {
      const { target, controller } = await pair(url, code);
      target.send({ type: 'data', payload: 'abc' });
      await controller.next();
      controller.send({ type: 'done' });
      await target.next();
    }
    const left = await pair(url, '918275');
    left.target.close();
    await left.controller.next();
    const expiring = await pair(url, '918276');
    await expiring.target.next(); // otc_expired
    const capped = await pair(url, '918277');
    capped.target.send({ type: 'data', payload: 'x'.repeat(700) });
    await capped.target.next(); // session_data_limit
    // One failed guess, then that address is rate limited.
    const guesser = await wsConnect(url, { 'x-forwarded-for': '198.51.100.77' });
    guesser.send({ type: 'connect', otc: '918278' });
    await guesser.next();
    guesser.send({ type: 'connect', otc: '918279' });
    await guesser.next();
    guesser.send('not json');
    await guesser.next();
    await eventually(() => relay.sessions === 0);

    const res = await fetch(httpUrl('/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(sample(text, 'pairing_relay_pairings_total')).toBe(5);
    expect(sample(text, 'pairing_relay_sessions_ended_total', 'outcome="done"')).toBe(2);
    expect(sample(text, 'pairing_relay_sessions_ended_total', 'outcome="peer_disconnected"')).toBe(
      1,
    );
    expect(sample(text, 'pairing_relay_sessions_ended_total', 'outcome="expired_paired"')).toBe(1);
    expect(sample(text, 'pairing_relay_sessions_ended_total', 'outcome="data_limit"')).toBe(1);
    expect(sample(text, 'pairing_relay_rejections_total', 'reason="otc_not_found"')).toBe(1);
    expect(sample(text, 'pairing_relay_rejections_total', 'reason="rate_limited"')).toBe(1);
    expect(sample(text, 'pairing_relay_rejections_total', 'reason="invalid_message"')).toBe(1);
    expect(sample(text, 'pairing_relay_time_to_pair_seconds_count')).toBe(5);
    expect(sample(text, 'pairing_relay_session_duration_seconds_count')).toBe(5);
    expect(sample(text, 'pairing_relay_forwarded_bytes_total')).toBeGreaterThan(2 * 30 + 700);
    expect(sample(text, 'pairing_relay_sessions')).toBe(0);
    expect(sample(text, 'pairing_relay_sockets')).toBeGreaterThan(0);
    for (const secret of ['9182', '198.51.100.77', 'abc']) expect(text).not.toContain(secret);
  });

  it('answers GET and HEAD, uncached; other methods 405 with Allow', async () => {
    const { httpUrl } = await startRelay({ metrics: true });
    const head = await fetch(httpUrl('/metrics'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/text\/plain/);
    expect(head.headers.get('cache-control')).toBe('no-store');
    expect(await head.text()).toBe('');
    const post = await fetch(httpUrl('/metrics'), { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('can live on its own port, off the public one', async () => {
    const metricsPort = await freePort();
    const { httpUrl } = await startRelay({ metrics: true, metricsPort });
    expect((await fetch(httpUrl('/metrics'))).status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('pairing_relay_sessions');
    expect((await fetch(`http://127.0.0.1:${metricsPort}/health`)).status).toBe(404);
  });
});
