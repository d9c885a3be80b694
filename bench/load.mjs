// The load generator: lean ws clients, no JSON parsing on the hot path.
// It shares the machine's cores with the server under test.
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';

let addressCounter = 0;
let codeCounter = 0;

/**
 * A distinct loopback source address per socket (Linux routes all of
 * 127.0.0.0/8 to lo), so per-address limits see a real crowd while the
 * servers run their default configuration: no trusted proxy, no bench-only
 * settings.
 */
function nextAddress() {
  const i = addressCounter++;
  return `127.${1 + (((i / 62500) % 250) | 0)}.${((i / 250) % 250) | 0}.${1 + (i % 250)}`;
}

function nextCode() {
  return String(100000 + (codeCounter++ % 900000));
}

// A reply that never comes is a failed pairing, not a hung bench.
const REPLY_TIMEOUT_MS = 5000;

/** One client socket and what it has received; the ws object itself is left as ws made it. */
class Peer {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.waiter = null;
    this.hook = null;
    ws.on('message', (data) => {
      if (this.hook) return this.hook(data);
      const text = data.toString();
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(text);
      } else this.inbox.push(text);
    });
  }

  send(text) {
    this.ws.send(text);
  }

  next() {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no reply (socket state ${this.ws.readyState})`));
      }, REPLY_TIMEOUT_MS);
      this.waiter = (text) => {
        clearTimeout(timer);
        resolve(text);
      };
    });
  }

  terminate() {
    this.ws.terminate();
  }

  close() {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    const closed = new Promise((r) => this.ws.once('close', r));
    this.ws.close();
    return closed;
  }
}

export function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress: nextAddress(), perMessageDeflate: false });
    const peer = new Peer(ws);
    ws.once('open', () => resolve(peer));
    ws.once('error', reject);
  });
}

export function next(peer) {
  return peer.next();
}

async function expectType(ws, type) {
  const text = await next(ws);
  if (!text.startsWith(`{"type":"${type}"`)) throw new Error(`expected ${type}, got ${text}`);
}

function closeBoth(a, b) {
  return Promise.all([a.close(), b.close()]);
}

/** `controllerUrl` may name another instance (scale-out). */
export async function pairUp(url, controllerUrl = url) {
  const code = nextCode();
  const target = await open(url);
  target.send(`{"type":"listen","otc":"${code}"}`);
  await expectType(target, 'ack');
  const controller = await open(controllerUrl);
  controller.send(`{"type":"connect","otc":"${code}"}`);
  await Promise.all([expectType(controller, 'peer_found'), expectType(target, 'peer_found')]);
  return { target, controller };
}

const PAYLOAD_200 = JSON.stringify({ type: 'data', payload: 'k'.repeat(200) });

/** listen, connect, peer_found both, 4 data each way, done, close. */
async function onePairing(url, controllerUrl) {
  const { target, controller } = await pairUp(url, controllerUrl);
  for (let i = 0; i < 4; i++) {
    target.send(PAYLOAD_200);
    controller.send(PAYLOAD_200);
  }
  for (let i = 0; i < 4; i++)
    await Promise.all([expectType(target, 'data'), expectType(controller, 'data')]);
  target.send('{"type":"done"}');
  await expectType(controller, 'done');
  await closeBoth(target, controller);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function pairings(
  url,
  { concurrency, durationMs, maxPairings = 50_000, controllerUrl = url },
) {
  const latencies = [];
  let started = 0;
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  async function worker() {
    while (performance.now() < deadline && started < maxPairings) {
      started++;
      const s = performance.now();
      try {
        await onePairing(url, controllerUrl);
        latencies.push(performance.now() - s);
      } catch (err) {
        errors++;
        if (process.env.BENCH_DEBUG) console.error(err.message);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    pairings: latencies.length,
    errors,
    pairingsPerSec: latencies.length / secs,
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    p99Ms: percentile(latencies, 99),
  };
}

/**
 * One-way forwarding target → controller, 1 KiB frames, a window of frames in
 * flight per pair; a pair near the 5 MiB session cap is replaced by a fresh one.
 */
export async function forwarding(url, { pairs, durationMs, frameBytes = 1024, window = 16 }) {
  const sessionBudget = 4.5 * 1024 * 1024;
  let messages = 0;
  let bytes = 0;
  const latencies = [];
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  const pad = (stamp) => {
    const head = `{"type":"data","payload":"${stamp}|`;
    return head + 'x'.repeat(Math.max(0, frameBytes - head.length - 2)) + '"}';
  };

  async function pump() {
    while (performance.now() < deadline) {
      const { target, controller } = await pairUp(url);
      await new Promise((resolve) => {
        let inflight = 0;
        let sent = 0;
        const fill = () => {
          while (
            inflight < window &&
            sent + frameBytes < sessionBudget &&
            performance.now() < deadline
          ) {
            target.send(pad(performance.now().toFixed(3)));
            inflight++;
            sent += frameBytes;
          }
          if (inflight === 0) resolve();
        };
        controller.hook = (data) => {
          const text = data.toString();
          const start = text.indexOf('"payload":"') + 11;
          latencies.push(performance.now() - Number(text.slice(start, text.indexOf('|', start))));
          messages++;
          bytes += data.length;
          inflight--;
          fill();
        };
        fill();
      });
      await closeBoth(target, controller);
    }
  }
  await Promise.all(Array.from({ length: pairs }, pump));
  const secs = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    messagesPerSec: messages / secs,
    mbPerSec: bytes / secs / 1e6,
    p99OneWayMs: percentile(latencies, 99),
  };
}

/** Makes `count` things, `concurrency` at a time, and keeps them; returns a closer. */
async function hold(count, concurrency, make, close) {
  const held = [];
  let left = count;
  async function worker() {
    while (left > 0) {
      left--;
      held.push(await make());
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return async () => {
    await Promise.all(held.map(close));
  };
}

/** Opens `sessions` paired sessions and keeps them; returns a closer. */
export function holdSessions(url, sessions, concurrency = 100) {
  return hold(
    sessions,
    concurrency,
    () => pairUp(url),
    ({ target, controller }) => closeBoth(target, controller),
  );
}

/** Opens `count` sockets that never send a frame (before listen/connect); returns a closer. */
export function holdSockets(url, count, concurrency = 100) {
  return hold(
    count,
    concurrency,
    () => open(url),
    (peer) => peer.close(),
  );
}
