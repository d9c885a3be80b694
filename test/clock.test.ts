import { afterEach, describe, expect, it } from 'vitest';
import type { Clock, DeadlineKind, Timer } from '../src/core/clock.js';
import type { RelayOptions } from '../src/index.js';
import { createRelayServer, type RelayServer } from '../src/server.js';
import { cleanup, eventually, wsConnect, type TestClient } from './helpers/relay.js';
import { transport } from './helpers/transports.js';

/**
 * A clock that moves only when told: every deadline the core sets is kept
 * here as data (what, when), as a runtime with alarms would keep it.
 */
class ManualClock implements Clock {
  private time = 1_700_000_000_000;
  private nextId = 1;
  private readonly due = new Map<number, { what: DeadlineKind; at: number; fire: () => void }>();

  now(): number {
    return this.time;
  }

  schedule(what: DeadlineKind, at: number, fire: () => void): Timer {
    const id = this.nextId++;
    this.due.set(id, { what, at, fire });
    return id as unknown as Timer;
  }

  cancel(timer: Timer): void {
    this.due.delete(timer as unknown as number);
  }

  /** Pending deadlines of one kind, as milliseconds from now. */
  pending(what: DeadlineKind): number[] {
    return [...this.due.values()].filter((d) => d.what === what).map((d) => d.at - this.time);
  }

  /** Moves time on, firing each deadline that comes due, in order, at its own time. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fire: () => void }] | undefined;
      for (const entry of this.due)
        if (next === undefined || entry[1].at < next[1].at) next = entry;
      if (next === undefined || next[1].at > until) break;
      this.due.delete(next[0]);
      this.time = Math.max(this.time, next[1].at);
      next[1].fire();
    }
    this.time = until;
  }
}

// Long durations: a real timer would never fire within the test, only the clock can.
const LONG = 600_000;
const running: RelayServer[] = [];

async function relayOn(clock: ManualClock, options: RelayOptions): Promise<string> {
  const relay = createRelayServer(
    // Heartbeat and idle off unless a test turns them on: a clock moved on by
    // minutes at once would run many heartbeat rounds with no pong between.
    {
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      idleTimeoutMs: 0,
      heartbeatMs: 0,
      ...options,
    },
    { clock },
  );
  running.push(relay);
  return (await relay.start()).url;
}

async function listening(url: string, code: string): Promise<TestClient> {
  const target = await wsConnect(url);
  target.send({ type: 'listen', otc: code });
  expect(await target.next()).toMatchObject({ type: 'ack' });
  return target;
}

// The clock is handed to a relay built in this process (createRelayServer's seams argument).
describe.skipIf(!transport.has('inProcess'))(
  'every core deadline goes through the clock seam (needs the relay in this process)',
  () => {
    afterEach(async () => {
      await cleanup();
      await Promise.all(running.splice(0).map((r) => r.stop()));
    });

    it('an unpaired session expires when the clock reaches its TTL, not before', async () => {
      const clock = new ManualClock();
      const url = await relayOn(clock, { sessionTtlMs: LONG });
      const target = await listening(url, '111111');
      expect(clock.pending('session_ttl')).toEqual([LONG]);
      clock.advance(LONG - 1);
      target.send({ type: 'data', payload: 'x' });
      target.send('not json');
      // Still open and served: the one answer is to the bad frame.
      expect(await target.next()).toMatchObject({ code: 'invalid_message' });
      clock.advance(1);
      expect(await target.next()).toEqual({ type: 'error', code: 'otc_expired' });
      expect((await target.closed).code).toBe(1000);
      expect(clock.pending('session_ttl')).toEqual([]);
    });

    it('a paired session gets the paired TTL from the moment it pairs', async () => {
      const clock = new ManualClock();
      const url = await relayOn(clock, { sessionTtlMs: LONG, pairedTtlMs: 2 * LONG });
      const target = await listening(url, '222222');
      clock.advance(LONG / 2);
      const controller = await wsConnect(url);
      controller.send({ type: 'connect', otc: '222222' });
      expect(await controller.next()).toEqual({ type: 'peer_found' });
      expect(await target.next()).toEqual({ type: 'peer_found' });
      expect(clock.pending('session_ttl')).toEqual([]);
      expect(clock.pending('paired_ttl')).toEqual([2 * LONG]);
      clock.advance(2 * LONG);
      expect(await target.next()).toEqual({ type: 'error', code: 'otc_expired' });
      expect(await controller.next()).toEqual({ type: 'error', code: 'otc_expired' });
    });

    it('a socket holding nothing is closed at the idle deadline; a listen lifts it', async () => {
      const clock = new ManualClock();
      const url = await relayOn(clock, { idleTimeoutMs: LONG, sessionTtlMs: 3 * LONG });
      const idle = await wsConnect(url);
      const busy = await listening(url, '333333');
      // The listener's idle deadline is gone; the idle socket's stands.
      await eventually(() => clock.pending('idle').length === 1);
      clock.advance(LONG);
      expect(await idle.closed).toEqual({ code: 1000, reason: 'idle' });
      // The close was answered: its cut-off deadline went with the socket.
      await eventually(() => clock.pending('close_answer').length === 0);
      expect(busy.ws.readyState).toBe(busy.ws.OPEN);
    });

    it('the heartbeat pings on the clock, and cuts off a socket that never answered', async () => {
      const clock = new ManualClock();
      const url = await relayOn(clock, { heartbeatMs: LONG });
      const silent = await wsConnect(url, {}, { autoPong: false });
      let pings = 0;
      silent.ws.on('ping', () => pings++);
      expect(clock.pending('heartbeat')).toEqual([LONG]);
      clock.advance(LONG);
      await eventually(() => pings === 1);
      expect(clock.pending('heartbeat')).toEqual([LONG]);
      clock.advance(LONG);
      expect((await silent.closed).code).toBe(1006);
      // No socket left: no heartbeat armed, an idle relay wakes for nothing.
      await eventually(() => clock.pending('heartbeat').length === 0);
    });

    it('a bootstrap watch ends at its TTL: an init then finds no watcher', async () => {
      const clock = new ManualClock();
      const url = await relayOn(clock, { watchTtlMs: LONG });
      const jti = 'a'.repeat(32);
      const watcher = await wsConnect(url);
      watcher.send({ type: 'bootstrap_watch', jti });
      expect(await watcher.next()).toEqual({ type: 'bootstrap_watching', jti });
      expect(clock.pending('watch_ttl')).toEqual([LONG]);
      clock.advance(LONG);
      expect(clock.pending('watch_ttl')).toEqual([]);
      const target = await wsConnect(url);
      target.send({ type: 'bootstrap_init', jti, token: 't', targetPubKey: 'k' });
      expect(await target.next()).toMatchObject({ type: 'bootstrap_reject', error: 'no_watcher' });
    });
  },
);
