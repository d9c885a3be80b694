import { afterAll, describe, expect, inject, it } from 'vitest';
import { podmanWith } from '../helpers/podman.js';
import { cleanup, delay, freePort, pair } from '../helpers/relay.js';

// Dockerfile.relay built (by ./setup.ts) and run for real under podman, as an operator
// runs it: read-only root, PORT from the environment, the image's own HEALTHCHECK and
// STOPSIGNAL. test/docker-image.test.ts replays the same steps without an engine.

const setup = inject('container');
const podman = podmanWith(setup.conf);
const name = `pairing-relay-test-${process.pid}-${Date.now()}`;
const MB = 1_000_000;

afterAll(async () => {
  await cleanup();
  if (setup.skip === null) await podman(['rm', '--force', name]).catch(() => undefined);
});

async function inspect<T>(kind: 'image' | 'container', target: string, format: string) {
  return JSON.parse(await podman([kind, 'inspect', '--format', `{{json ${format}}}`, target])) as T;
}

/** Polls `url` until it answers 200, failing after timeoutMs. */
async function until200(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} not 200 within ${timeoutMs} ms`);
    await delay(100);
  }
}

describe.skipIf(setup.skip !== null)('the image under podman', () => {
  it('is labelled, keeps HEALTHCHECK and STOPSIGNAL, and adds little to its base', async () => {
    const labels = await inspect<Record<string, string>>('image', setup.image, '.Labels');
    expect(labels).toMatchObject({
      'org.opencontainers.image.title': 'pairing-relay',
      'org.opencontainers.image.version': setup.version,
      'org.opencontainers.image.licenses': 'MIT',
    });
    expect(labels['org.opencontainers.image.description']).toMatch(/pairing relay/);
    // Docker format keeps both; OCI would drop the HEALTHCHECK without a word.
    const [image] = JSON.parse(await podman(['image', 'inspect', setup.image])) as Array<{
      Healthcheck?: { Test: string[] };
      Config: { StopSignal?: string };
    }>;
    expect(image?.Healthcheck?.Test.slice(0, 2)).toEqual(['CMD', 'node']);
    expect(image?.Config.StopSignal).toBe('SIGTERM');

    const size = await inspect<number>('image', setup.image, '.Size');
    const baseSize = await inspect<number>('image', setup.base, '.Size');
    console.log(
      `container image: ${(size / MB).toFixed(1)} MB on ${setup.base} (${(baseSize / MB).toFixed(1)} MB); ` +
        `base ${setup.baseBuilt ? 'built' : 'reused'} in ${(setup.baseMs / 1000).toFixed(1)} s, ` +
        `image built in ${(setup.imageMs / 1000).toFixed(1)} s`,
    );
    // dist/ and the production node_modules: about 10 MB. devDependencies (typescript,
    // vitest, bun) would add hundreds.
    expect(size - baseSize).toBeLessThan(25 * MB);
  });

  it('runs read-only as uid 1000, pairs, passes its HEALTHCHECK, and exits 0 after the drain', async () => {
    const port = await freePort();
    const started = Date.now();
    // HOST=127.0.0.1: with --network=host the default 0.0.0.0 would expose the test
    // relay on every interface of the machine.
    await podman([
      'run',
      '--detach',
      '--name',
      name,
      '--read-only',
      '--network=host',
      '-e',
      `PORT=${port}`,
      '-e',
      'HOST=127.0.0.1',
      setup.image,
    ]);
    const http = (path: string): string => `http://127.0.0.1:${port}${path}`;
    await until200(http('/health'), 30_000);
    console.log(`container: run to first /health 200 in ${Date.now() - started} ms`);
    const health = (await (await fetch(http('/health'))).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', sessions: 0, version: setup.version });

    // The relay itself (PID 1), not just the image's USER, runs as uid 1000.
    const status = await podman(['exec', name, 'cat', '/proc/1/status']);
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('1000');
    // Read-only root: not even root inside the container can write to /app.
    await expect(podman(['exec', '--user', '0', name, 'touch', '/app/probe'])).rejects.toThrow(
      /Read-only file system/,
    );

    // A real pairing through the container, data both ways.
    const url = `ws://127.0.0.1:${port}/ws`;
    const { target, controller } = await pair(url, '314159');
    target.send({ type: 'data', payload: 'sealed-box-1' });
    expect(await controller.next(5_000)).toEqual({ type: 'data', payload: 'sealed-box-1' });
    controller.send({ type: 'data', payload: 'sealed-box-2' });
    expect(await target.next(5_000)).toEqual({ type: 'data', payload: 'sealed-box-2' });
    expect(await (await fetch(http('/health'))).json()).toMatchObject({ sessions: 1 });

    // The image's HEALTHCHECK, run by podman inside the container.
    await podman(['healthcheck', 'run', name], { timeoutMs: 30_000 });

    // podman stop: SIGTERM, /ready 503 while the live session may finish, then exit 0.
    const stopStarted = Date.now();
    const stopped = podman(['stop', '--time', '15', name], { timeoutMs: 30_000 });
    await expect
      .poll(async () => (await fetch(http('/ready'))).status, { timeout: 10_000 })
      .toBe(503);
    expect((await fetch(http('/health'))).status).toBe(200);
    target.send({ type: 'done' });
    expect(await controller.next(5_000)).toEqual({ type: 'done' });
    await stopped;
    const stopMs = Date.now() - stopStarted;
    const state = await inspect<{ ExitCode: number; OOMKilled: boolean }>(
      'container',
      name,
      '.State',
    );
    expect(state.ExitCode).toBe(0);
    // Well inside the 10 s drain window: the relay left when its last session ended,
    // not when podman's 15 s ran out and SIGKILL came.
    expect(stopMs).toBeLessThan(10_000);
    console.log(`container: podman stop with a live session took ${stopMs} ms, exit 0`);
  });
});
