import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './relay.js';

/** Whether redis-server is installed; CI (CI=true) must have it. */
export const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop()). */
  restart(): Promise<void>;
}

/** Its working dir, so nothing it writes (a dump.rdb) lands in the tree; removed at exit. */
function launch(port: number): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-redis-'));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
  );
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
}

/**
 * A private redis-server on a free port, no persistence. With `notYet`, the
 * port is chosen but the server only starts at restart(): for boot orders
 * where the relay comes first.
 */
export async function startRedis(opts: { notYet?: boolean } = {}): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined = opts.notYet === true ? undefined : await launch(port);
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    async restart() {
      await stop();
      child = await launch(port);
    },
  };
}
