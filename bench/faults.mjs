// Scale-out fault figures, as a client sees them: how long a quiet peer waits
// to hear that the other instance died, and how soon instances that booted
// before Redis serve cross-instance pairings once it is up.
import { performance } from 'node:perf_hooks';
import { next, pairUp } from './load.mjs';
import { startServer, stopServer } from './proc.mjs';

const PEER_DISCONNECTED = '{"type":"error","code":"peer_disconnected"}';

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
    const { target, controller } = await pairUp(a.url, b.url);
    const heard = next(controller);
    const t0 = performance.now();
    a.child.kill('SIGKILL');
    const msg = await heard;
    const ms = performance.now() - t0;
    if (msg !== PEER_DISCONNECTED) throw new Error(msg);
    target.terminate();
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
    const { target, controller } = await pairUp(a.url, b.url);
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
