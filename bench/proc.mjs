// Server processes for the bench: spawn, wait for "listening", read RSS and CPU from /proc.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { get } from 'node:http';
import { createServer } from 'node:net';

const CLK_TCK = 100; // Linux USER_HZ

export function startServer(cmd, args, env = {}) {
  const child = spawn(cmd, args, {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/"url":"(ws:\/\/[^"]+)"/) ?? out.match(/(ws:\/\/127\.0\.0\.1:\d+\/ws)/);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        const url = m[1];
        const port = Number(new URL(url).port);
        resolve({ child, url, port, pid: child.pid });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => {
      out += c;
      onData('');
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

export async function stopServer(server) {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGKILL');
  await exited;
}

export function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+)/)[1]);
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function healthOnce(port) {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/health' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

/** Spawn → first 200 on /health, on a fixed port, in ms. */
export async function coldStartMs(cmd, args, env, port) {
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (await healthOnce(port)) return performance.now() - t0;
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${cmd} exited during cold start`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    // A child that already exited emits no second 'exit': waiting would hang.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  }
}

/** A port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server (no persistence) on `port`, or a free one. */
export async function startRedis(port) {
  port ??= await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', () => reject(new Error('redis-server exited')));
  });
  child.stdout.resume();
  return { url: `redis://127.0.0.1:${port}`, child, port };
}
