import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { transport } from './helpers/transports.js';
import {
  cleanup,
  delay,
  eventually,
  expectNothingPending,
  listenOn,
  pair,
  startRelay,
  upgradeStatus,
  wsConnect,
  settles,
} from './helpers/relay.js';
import { rawConnect } from './helpers/raw-ws.js';

afterEach(cleanup);

describe('limits', () => {
  it('a frame over maxFrameBytes closes the socket with 1009; the session partner is told', async () => {
    const { url, relay } = await startRelay({ maxFrameBytes: 1024 });
    const { target, controller } = await pair(url);
    target.send({ type: 'data', payload: 'x'.repeat(2000) });
    expect((await target.closed).code).toBe(1009);
    expect(await controller.next()).toEqual({ type: 'error', code: 'peer_disconnected' });
    await settles(() => relay.sessions, 0);
  });

  it('a frame just under maxFrameBytes is forwarded', async () => {
    const { url } = await startRelay({ maxFrameBytes: 1024 });
    const { target, controller } = await pair(url);
    const payload = 'y'.repeat(1024 - '{"type":"data","payload":""}'.length);
    target.send({ type: 'data', payload });
    expect(await controller.next()).toEqual({ type: 'data', payload });
  });

  it('the per-session byte cap counts both ways; breach → session_data_limit to both, both closed', async () => {
    const { url, relay } = await startRelay({ maxSessionBytes: 1000 });
    const { target, controller } = await pair(url);
    const frame = { type: 'data', payload: 'z'.repeat(200) }; // 228 bytes on the wire
    target.send(frame);
    await controller.next();
    controller.send(frame);
    await target.next();
    target.send(frame);
    await controller.next();
    target.send(frame); // 912 so far: still under
    await controller.next();
    controller.send(frame); // 1140: over
    expect(await controller.next()).toEqual({ type: 'error', code: 'session_data_limit' });
    expect(await target.next()).toEqual({ type: 'error', code: 'session_data_limit' });
    expect((await target.closed).code).toBe(1008);
    expect((await controller.closed).code).toBe(1008);
    await settles(() => relay.sessions, 0);
  });

  it.skipIf(!transport.has('globalCaps'))(
    'relay_capacity when the session table is full; a slot frees when a session ends (needs caps over the whole relay)',
    async () => {
      const { url } = await startRelay({ maxSessions: 2 });
      const a = await listenOn(url, '100001');
      await listenOn(url, '100002');
      const c = await wsConnect(url);
      c.send({ type: 'listen', otc: '100003' });
      expect(await c.next()).toEqual({ type: 'error', code: 'relay_capacity' });
      a.send({ type: 'done' });
      await expectNothingPending(a);
      c.send({ type: 'listen', otc: '100003' });
      expect(await c.next()).toEqual({ type: 'ack', message: 'session_open' });
    },
  );

  it.skipIf(!transport.has('globalCaps'))(
    'relay_capacity does not spend the rate-limit budget (needs caps over the whole relay)',
    async () => {
      const { url } = await startRelay({ maxSessions: 1, failedAttemptsPerIp: 2 });
      await listenOn(url, '200001');
      const b = await wsConnect(url);
      for (let i = 0; i < 5; i++) {
        b.send({ type: 'listen', otc: '200002' });
        expect(await b.next()).toEqual({ type: 'error', code: 'relay_capacity' });
      }
    },
  );

  it.skipIf(!transport.has('globalCaps'))(
    'the socket cap refuses at upgrade with 503 (needs caps over the whole relay)',
    async () => {
      const { url } = await startRelay({ maxSockets: 2 });
      await wsConnect(url);
      await wsConnect(url);
      expect(await upgradeStatus(url)).toBe(503);
    },
  );

  it.skipIf(!transport.has('globalCaps'))(
    'the per-address socket cap refuses at upgrade with 429, other addresses unaffected (needs caps over the whole relay)',
    async () => {
      const { url, relay } = await startRelay({ maxSocketsPerIp: 2, trustProxy: 1 });
      const hdr = { 'x-forwarded-for': '198.51.100.7' };
      const one = await wsConnect(url, hdr);
      await wsConnect(url, hdr);
      expect(await upgradeStatus(url, hdr)).toBe(429);
      expect(await upgradeStatus(url, { 'x-forwarded-for': '198.51.100.8' })).toBe(101);
      await settles(() => relay.connections, 3);
      one.close();
      await one.closed;
      await eventually(() => relay.connections === 2);
      expect(await upgradeStatus(url, hdr)).toBe(101);
    },
  );

  // Node only: Bun.serve has no hook at accept; there Bun's 10 s HTTP idle limit cuts them.
  it.skipIf(!transport.has('perIpAcceptCap'))(
    'half-sent requests from one address cannot fill the connection table (needs a per-address cap at TCP accept)',
    async () => {
      const { port } = await startRelay({ maxSocketsPerIp: 2 });
      const held: Socket[] = [];
      const openRaw = (): Promise<Socket> =>
        new Promise((resolve) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.write('GET /ws HTTP/1.1\r\nHost: x\r\n'); // and never finish it
            resolve(socket);
          });
          socket.on('error', () => undefined);
          held.push(socket);
        });
      try {
        // The cap at accept is the per-address WebSocket cap plus 16 of headroom.
        for (let i = 0; i < 18; i++) await openRaw();
        const refused = await openRaw();
        await new Promise((resolve) => refused.once('close', resolve));
        expect(held.slice(0, 18).every((s) => !s.destroyed)).toBe(true);
        // Another address is not affected.
        const other = new WebSocket(`ws://127.0.0.1:${port}/ws`, { localAddress: '127.0.0.2' });
        await new Promise((resolve, reject) => {
          other.once('open', resolve);
          other.once('error', reject);
        });
        other.terminate();
      } finally {
        for (const socket of held) socket.destroy();
      }
    },
  );

  it.skipIf(!transport.has('globalCaps'))(
    'IPv6 clients share a per-address cap across their /64 (needs caps over the whole relay)',
    async () => {
      const { url } = await startRelay({ maxSocketsPerIp: 2, trustProxy: 1 });
      await wsConnect(url, { 'x-forwarded-for': '2001:db8:1:2::1' });
      await wsConnect(url, { 'x-forwarded-for': '2001:db8:1:2:ffff::9' });
      expect(await upgradeStatus(url, { 'x-forwarded-for': '2001:db8:1:2:aaaa::1' })).toBe(429);
      expect(await upgradeStatus(url, { 'x-forwarded-for': '2001:db8:1:3::1' })).toBe(101);
    },
  );

  it('a socket that holds nothing is closed after idleTimeoutMs', async () => {
    const { url, relay } = await startRelay({ idleTimeoutMs: 100 });
    const idle = await wsConnect(url);
    const spammer = await wsConnect(url);
    spammer.send('garbage'); // invalid frames do not count as protocol activity
    const listener = await listenOn(url, '300003');
    expect((await idle.closed).code).toBe(1000);
    expect((await spammer.closed).code).toBe(1000);
    // A socket in a session is not idle.
    await expectNothingPending(listener);
    await settles(() => relay.sessions, 1);
  });

  it.skipIf(!transport.has('ownsConnection'))(
    'a socket the relay closed starts nothing new, and is cut off if it never answers (needs the relay to own the client connection)',
    async () => {
      const { url, relay } = await startRelay({ idleTimeoutMs: 100 });
      // A client that never answers the relay's close frame.
      const stubborn = await rawConnect(url);
      const close = await stubborn.next();
      expect(close.opcode).toBe(0x8);
      stubborn.send('{"type":"listen","otc":"454545"}');
      const probe = await wsConnect(url);
      probe.send({ type: 'connect', otc: '454545' });
      expect(await probe.next()).toEqual({ type: 'error', code: 'otc_not_found' });
      // Cut off within the 2 s answer window, having opened no session.
      await stubborn.ended;
      await settles(() => relay.sessions, 0);
      await eventually(() => relay.connections === 0);
    },
  );

  it('steps that hold nothing do not restart the idle count: failed connects every 200 ms are still closed at idleTimeoutMs', async () => {
    const { url } = await startRelay({ idleTimeoutMs: 1_000, failedAttemptsPerIp: 1_000 });
    const dodger = await wsConnect(url);
    const opened = Date.now();
    let closed = false;
    void dodger.closed.then(() => (closed = true));
    while (!closed && Date.now() - opened < 4_000) {
      dodger.send({ type: 'connect', otc: '987650' });
      await delay(200);
    }
    expect((await dodger.closed).code).toBe(1000);
    // At the deadline, give or take a round trip to the code's object.
    expect(Date.now() - opened).toBeLessThan(2_500);
  });

  it('a socket whose session ended becomes idle again', async () => {
    const { url } = await startRelay({ idleTimeoutMs: 150 });
    const { target, controller } = await pair(url);
    controller.send({ type: 'done' });
    await target.next();
    expect((await target.closed).code).toBe(1000);
    expect((await controller.closed).code).toBe(1000);
  });

  it.skipIf(!transport.has('heartbeat'))(
    'a dead peer that never answers pings is terminated (needs the relay to ping)',
    async () => {
      const { url, relay } = await startRelay({ heartbeatMs: 100 });
      const dead = await wsConnect(url, {}, { autoPong: false });
      const alive = await wsConnect(url);
      dead.send({ type: 'listen', otc: '400004' });
      await dead.next();
      alive.send({ type: 'connect', otc: '400004' });
      await alive.next();
      expect((await dead.closed).code).toBe(1006);
      expect(await alive.next()).toEqual({ type: 'error', code: 'peer_disconnected' });
      await settles(() => relay.connections, 1);
    },
  );

  it.skipIf(!transport.has('slowReaderCap'))(
    'a slow reader whose send buffer passes the cap is cut off; its partner is told (needs a cap on the send buffer)',
    async () => {
      const { url, relay } = await startRelay({
        maxBufferedBytes: 64 * 1024,
        maxSessionBytes: 1024 * 1024 * 1024,
      });
      const target = await listenOn(url, '616161');
      // A controller that stops reading from its TCP socket once paired.
      const controller = await rawConnect(url);
      controller.send('{"type":"connect","otc":"616161"}');
      expect(JSON.parse((await controller.next()).text)).toEqual({ type: 'peer_found' });
      await target.next();
      controller.socket.pause();
      const payload = 'q'.repeat(60_000);
      let told: Record<string, unknown> | undefined;
      // Loopback kernel buffers soak up a few MB before the relay's own buffer grows.
      for (let i = 0; i < 100 && told === undefined; i++) {
        for (let j = 0; j < 20; j++) target.send({ type: 'data', payload });
        told = await target.next(30).catch(() => undefined);
      }
      expect(told).toEqual({ type: 'error', code: 'peer_disconnected' });
      await settles(() => relay.sessions, 0);
    },
  );
});

describe('session lifetime', () => {
  it('an unpaired code expires after sessionTtlMs: otc_expired, then a normal close', async () => {
    const { url, relay } = await startRelay({ sessionTtlMs: 150 });
    const target = await listenOn(url, '500005');
    expect(await target.next()).toEqual({ type: 'error', code: 'otc_expired' });
    expect((await target.closed).code).toBe(1000);
    await settles(() => relay.sessions, 0);
    const late = await wsConnect(url);
    late.send({ type: 'connect', otc: '500005' });
    expect(await late.next()).toEqual({ type: 'error', code: 'otc_not_found' });
  });

  it('pairing gives the session pairedTtlMs more, then both peers get otc_expired', async () => {
    const { url, relay } = await startRelay({ sessionTtlMs: 5_000, pairedTtlMs: 150 });
    const { target, controller } = await pair(url);
    expect(await target.next()).toEqual({ type: 'error', code: 'otc_expired' });
    expect(await controller.next()).toEqual({ type: 'error', code: 'otc_expired' });
    expect((await target.closed).code).toBe(1000);
    expect((await controller.closed).code).toBe(1000);
    await settles(() => relay.sessions, 0);
  });

  it('the paired TTL starts at pairing, not at listen', async () => {
    const { url } = await startRelay({ sessionTtlMs: 300, pairedTtlMs: 400 });
    const target = await listenOn(url, '600006');
    await new Promise((r) => setTimeout(r, 200));
    const controller = await wsConnect(url);
    controller.send({ type: 'connect', otc: '600006' });
    await controller.next();
    await target.next();
    const started = Date.now();
    expect(await target.next()).toEqual({ type: 'error', code: 'otc_expired' });
    // Lived past the original 300 ms deadline: the TTL was reset at pairing.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });
});
