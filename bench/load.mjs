// The load generator: lean ws clients, no JSON parsing on the hot path.
// It shares the machine's cores with the server under test.
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';

let addressCounter = 0;
let codeCounter = 0;

/** A distinct client address per socket, so per-address limits measure a real crowd. */
function nextAddress() {
  const i = ++addressCounter;
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function nextCode() {
  return String(100000 + (codeCounter++ % 900000));
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { 'x-forwarded-for': nextAddress() },
      perMessageDeflate: false,
    });
    ws.inbox = [];
    ws.waiter = null;
    ws.hook = null;
    ws.on('message', (data) => {
      if (ws.hook) return ws.hook(data);
      const text = data.toString();
      if (ws.waiter) {
        const w = ws.waiter;
        ws.waiter = null;
        w(text);
      } else ws.inbox.push(text);
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// A reply that never comes is a failed pairing, not a hung bench.
const REPLY_TIMEOUT_MS = 5000;

export function next(ws) {
  if (ws.inbox.length > 0) return Promise.resolve(ws.inbox.shift());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.waiter = null;
      reject(new Error(`no reply (socket state ${ws.readyState})`));
    }, REPLY_TIMEOUT_MS);
    ws.waiter = (text) => {
      clearTimeout(timer);
      resolve(text);
    };
  });
}

async function expectType(ws, type) {
  const text = await next(ws);
  if (!text.startsWith(`{"type":"${type}"`)) throw new Error(`expected ${type}, got ${text}`);
}

function closeBoth(a, b) {
  const closed = (ws) =>
    ws.readyState === WebSocket.CLOSED ? null : new Promise((r) => ws.once('close', r));
  const waits = [closed(a), closed(b)];
  a.close();
  b.close();
  return Promise.all(waits);
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

/** Opens `sessions` paired sessions and keeps them; returns a closer. */
export async function holdSessions(url, sessions, concurrency = 100) {
  const held = [];
  let left = sessions;
  async function worker() {
    while (left > 0) {
      left--;
      held.push(await pairUp(url));
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return async () => {
    await Promise.all(held.map(({ target, controller }) => closeBoth(target, controller)));
  };
}
