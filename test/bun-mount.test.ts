import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, track } from './helpers/process.js';
import { cleanup, pair } from './helpers/relay.js';
import { transport } from './helpers/transports.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUN = fileURLToPath(new URL('../node_modules/.bin/bun', import.meta.url));

// docs/api.md's mount example under Bun against the built package (port 0, silent,
// and a drain on SIGTERM added so the test can stop it).
const EXAMPLE = `
import { createRelayServer } from './dist/index.js';
const relay = createRelayServer({ mount: true, logLevel: 'silent', drainMs: 200 });
await relay.start();
const server = Bun.serve({ port: 0, hostname: '127.0.0.1', websocket: relay.websocket,
  fetch: (req, srv) => new URL(req.url).pathname === '/app' ? new Response('app') : relay.fetch(req, srv) });
console.log(JSON.stringify({ port: server.port }));
process.on('SIGTERM', async () => { await relay.drain(); server.stop(true); });
`;

afterEach(async () => {
  await cleanup();
  killChildren();
});

describe.skipIf(!transport.has('mount'))('mounted in your own Bun.serve (needs Bun.serve)', () => {
  it('relay.fetch and relay.websocket serve /ws, /health and /ready beside your routes', async () => {
    const child = track(
      spawn(BUN, ['--eval', EXAMPLE], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
        resolve((JSON.parse(line) as { port: number }).port),
      );
    });
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/app`)).text()).toBe('app');
    expect(await (await fetch(`${base}/health`)).json()).toMatchObject({ status: 'ok' });
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    expect((await fetch(`${base}/other`)).status).toBe(404);
    const { target, controller } = await pair(`ws://127.0.0.1:${port}/ws`, '575757');
    target.send({ type: 'data', payload: 'mounted' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'mounted' });
    child.kill('SIGTERM');
    expect(await target.next(15_000)).toEqual({ type: 'error', code: 'going_away' });
  });
});
