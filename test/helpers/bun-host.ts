// Runs one relay under Bun for the test suite (RELAY_TEST_TRANSPORT=bun): the
// built library, its Bun.serve transport, options from argv, and a small
// control channel on stdin/stdout (JSON lines) so tests on Node can stop,
// drain and read it. Relay log lines pass through stdout unchanged.
import { createInterface } from 'node:readline';
import type * as Library from '../../src/index.js';

// The built library (what ships), loaded by path: it does not exist until `npm run build`.
const built = new URL('../../dist/index.js', import.meta.url).href;
const { createRelayServer } = (await import(built)) as typeof Library;

const options = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const say = (event: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify({ __host: true, ...event }) + '\n');
};

const relay = createRelayServer(options);
let last = '';
const push = (): void => {
  const state = JSON.stringify([relay.sessions, relay.connections, relay.draining]);
  if (state === last) return;
  last = state;
  say({
    event: 'state',
    sessions: relay.sessions,
    connections: relay.connections,
    draining: relay.draining,
  });
};

const watch = setInterval(push, 2);
// Commands are taken from now on: a stop() may come while start() still waits to
// join a cluster (it listens first).

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const { cmd, id } = JSON.parse(line) as { cmd: 'stop' | 'drain' | 'reload'; id: number };
  const run =
    cmd === 'stop'
      ? relay.stop()
      : cmd === 'drain'
        ? relay.drain()
        : relay.reloadAccessTokens().then(() => undefined);
  push();
  void run.then(() => {
    push();
    say({ event: 'done', id });
    if (cmd !== 'stop') return;
    // Stopped: let go of everything this host holds. The process must then
    // end by itself; a timer or socket the relay left behind would keep it up.
    clearInterval(watch);
    commands.close();
    process.stdin.destroy();
  });
});

try {
  const address = await relay.start();
  push();
  say({ event: 'listening', address });
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  say({ event: 'error', code: e.code, message: e.message });
  process.exit(1);
}
