import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { RelayAddress, RelayOptions, RelayServer } from '../../src/index.js';
import { track } from './process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUN = fileURLToPath(new URL('../../node_modules/.bin/bun', import.meta.url));
const HOST = fileURLToPath(new URL('./bun-host.ts', import.meta.url));

type HostEvent = { __host: true; event: string } & Record<string, unknown>;

/**
 * A relay running under Bun (Bun.serve transport) in a child process, behind
 * the RelayServer interface the tests use (the bun transport of
 * test/helpers/transports.ts). Its counts are the last the host reported (it
 * reports every change within ~2 ms). Options cross as JSON; a logger's level
 * crosses and its lines come back to it.
 */
export async function startBunRelay(options: RelayOptions): Promise<RelayServer> {
  const { logger, server, ...plain } = options;
  if (server !== undefined) {
    throw new Error(
      "a node:http server cannot be handed to Bun: skip with !transport.has('attachServer')",
    );
  }
  for (const [key, value] of Object.entries(plain)) {
    if (typeof value === 'function') {
      throw new Error(
        `option ${key} is a function and cannot cross to the Bun process: skip with !transport.has('inProcess')`,
      );
    }
  }
  const forward = logger as Logger | undefined;
  if (forward !== undefined)
    plain.logLevel = forward.level as NonNullable<RelayOptions['logLevel']>;
  const child = track(
    spawn(BUN, [HOST, JSON.stringify(plain)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  let state = { sessions: 0, connections: 0, draining: false };
  let address: RelayAddress | null = null;
  let nextId = 1;
  const waiting = new Map<number, () => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const sink = (forward as unknown as Record<symbol, { write(s: string): void }> | undefined)?.[
    pino.symbols.streamSym
  ];
  const started = new Promise<RelayAddress>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bun relay exited ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let msg: HostEvent | undefined;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed['__host'] === true) msg = parsed as HostEvent;
      } catch {
        // not JSON: a plain line
      }
      if (msg === undefined) return sink?.write(line + '\n');
      if (msg.event === 'state') state = msg as unknown as typeof state;
      else if (msg.event === 'listening') resolve((address = msg['address'] as RelayAddress));
      else if (msg.event === 'error')
        reject(Object.assign(new Error(String(msg['message'])), { code: msg['code'] }));
      else if (msg.event === 'done') waiting.get(msg['id'] as number)?.();
    });
  });
  const command = (cmd: 'stop' | 'drain' | 'reload'): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const id = nextId++;
    const done = new Promise<void>((resolve) => waiting.set(id, resolve));
    child.stdin?.write(JSON.stringify({ cmd, id }) + '\n');
    return Promise.race([done, exited]);
  };
  let stopping: Promise<void> | null = null;
  // A stopped relay holds nothing: its process ends by itself (the in-process
  // suite checks timers instead).
  const stopAndExit = async (): Promise<void> => {
    await command('stop');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
    if (child.signalCode === 'SIGKILL') throw new Error('bun relay still running 3 s after stop()');
  };
  const relay: RelayServer = {
    start: () => started,
    stop: () => (stopping ??= stopAndExit()),
    drain: () => command('drain'),
    reloadAccessTokens: () => command('reload').then(() => undefined),
    handleRequest: () => {
      throw new Error('handleRequest is for node:http');
    },
    fetch: () => {
      throw new Error('fetch is for mounting in this process');
    },
    websocket: undefined,
    get address() {
      return address;
    },
    get sessions() {
      return state.sessions;
    },
    get connections() {
      return state.connections;
    },
    get draining() {
      return state.draining;
    },
  };
  return relay;
}
