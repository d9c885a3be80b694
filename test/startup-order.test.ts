import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/index.js';
import { transport } from './helpers/transports.js';

// Start-up never waits on Redis: the listening line and a 200 on /health come
// while a stand-in Redis, which accepts connections and never answers, has
// answered nothing. Its timeout is the longest there is, so a start that
// waited for Redis would not listen within the test's time at all.

const SECRET = 'a-secret-of-16-chars';
let stopRelay: (() => Promise<void>) | undefined;
let server: Server | undefined;
const sockets = new Set<Socket>();

afterEach(async () => {
  await stopRelay?.();
  stopRelay = undefined;
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise((resolve) =>
    server === undefined ? resolve(undefined) : server.close(resolve),
  );
  server = undefined;
});

describe.skipIf(!transport.has('scaleOut') || !transport.has('logs'))(
  'start-up order (needs scale-out and the relay log lines)',
  () => {
    it('listening and /health 200 before Redis answers anything; /ready degraded meanwhile', async () => {
      let bytesFromRelay = 0;
      const silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('data', (chunk: Buffer) => (bytesFromRelay += chunk.length));
      });
      server = silent;
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const redisPort = (silent.address() as { port: number }).port;

      let onListening: (line: Record<string, unknown>) => void = () => undefined;
      const listening = new Promise<Record<string, unknown>>((resolve) => (onListening = resolve));
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const l of chunk.toString().split('\n')) {
            if (l === '') continue;
            const line = JSON.parse(l) as Record<string, unknown>;
            if (line['msg'] === 'listening') onListening(line);
          }
          done();
        },
      });
      const relay: RelayServer = await transport.relay({
        host: '127.0.0.1',
        port: 0,
        logger: pino({ level: 'info' }, sink),
        redisUrl: `redis://127.0.0.1:${redisPort}`,
        redisSecret: SECRET,
        redisTimeoutMs: 60_000,
      });
      let startResolved = false;
      const started = relay.start().then(() => (startResolved = true));
      stopRelay = async () => {
        await relay.stop();
        await started;
      };

      const line = await listening;
      const health = await fetch(String(line['health']));
      expect(health.status).toBe(200);
      const ready = await fetch(String(line['health']).replace(/\/health$/, '/ready'));
      // Not joined: degraded (200 or 503 by RELAY_READY_DURING_REDIS_OUTAGE), never ready.
      expect(await ready.json()).toMatchObject({ status: 'degraded' });
      // The relay did ask Redis; Redis has answered nothing, and the cluster is not joined.
      for (let i = 0; i < 100 && bytesFromRelay === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(bytesFromRelay).toBeGreaterThan(0);
      expect(startResolved).toBe(false);
      // stop() does not wait out the join either.
      await stopRelay();
      stopRelay = undefined;
      expect(startResolved).toBe(true);
    });
  },
);
