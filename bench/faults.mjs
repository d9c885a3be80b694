// Scale-out fault figures, as a client sees them: how long a quiet peer waits
// to hear that the other instance died, and how soon instances that booted
// before Redis serve cross-instance pairings once it is up.
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { startServer, stopServer } from './proc.mjs';

function client(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { 'x-forwarded-for': `10.9.${rand()}.${rand()}` } });
    const inbox = [];
    const waiters = [];
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      const w = waiters.shift();
      if (w) w(m);
      else inbox.push(m);
    });
    ws.next = () =>
      inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((r) => waiters.push(r));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
const rand = () => Math.floor(Math.random() * 250) + 1;
const send = (ws, m) => ws.send(JSON.stringify(m));
let code = 700000;

async function pairAcross(a, b) {
  const otc = String(code++);
  const target = await client(a.url);
  send(target, { type: 'listen', otc });
  if ((await target.next()).type !== 'ack') throw new Error('listen failed');
  const controller = await client(b.url);
  send(controller, { type: 'connect', otc });
  const found = await controller.next();
  if (found.type !== 'peer_found') throw new Error(`connect failed: ${JSON.stringify(found)}`);
  await target.next();
  return { target, controller };
}

async function ready(server) {
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/ready`);
    return res.status === 200 && (await res.json()).status === 'ready';
  } catch {
    return false;
  }
}

/** Owner killed with SIGKILL: ms until the quiet controller on the other instance is told. */
export async function deathToPeerDisconnected(env) {
  const a = await startServer(process.execPath, [env.cli], env.vars);
  const b = await startServer(process.execPath, [env.cli], env.vars);
  try {
    const { controller } = await pairAcross(a, b);
    const heard = controller.next();
    const t0 = performance.now();
    a.child.kill('SIGKILL');
    const msg = await heard;
    const ms = performance.now() - t0;
    if (msg.code !== 'peer_disconnected') throw new Error(JSON.stringify(msg));
    controller.terminate();
    return ms;
  } finally {
    await stopServer(a);
    await stopServer(b);
  }
}

/** Two instances up before Redis: ms from Redis up to both /ready 200, and to a cross-instance pairing. */
export async function bootBeforeRedis(env, startRedisOn, port) {
  const a = await startServer(process.execPath, [env.cli], env.vars);
  const b = await startServer(process.execPath, [env.cli], env.vars);
  let redis;
  try {
    const t0 = performance.now();
    redis = await startRedisOn(port);
    const up = performance.now() - t0;
    while (!((await ready(a)) && (await ready(b)))) await new Promise((r) => setTimeout(r, 5));
    const readyMs = performance.now() - t0 - up;
    const { target, controller } = await pairAcross(a, b);
    const pairedMs = performance.now() - t0 - up;
    target.terminate();
    controller.terminate();
    return { readyMs, pairedMs };
  } finally {
    await stopServer(a);
    await stopServer(b);
    redis?.kill('SIGKILL');
  }
}
