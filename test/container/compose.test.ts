import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { hasTool, podmanWith, sh } from '../helpers/podman.js';
import { cleanup, delay, freePort, pair } from '../helpers/relay.js';

// compose.yaml brought up with podman-compose (Debian's package, 1.0.3 on bookworm), as
// written except for three things this machine needs: the base image as a build
// argument (node:20-bookworm-slim cannot be pulled here), a free host port instead of
// 3001, and a tag of this run's own.

const setup = inject('container');
const hasCompose = hasTool('podman-compose', 'version');
if (setup.skip === null && !hasCompose) {
  const message = 'podman-compose is not installed: the compose test is SKIPPED';
  if (process.env['CI'] === 'true') throw new Error(`${message}, and CI=true requires it`);
  console.warn(`\n*** ${message} (apt-get install podman-compose) ***\n`);
}
const podman = podmanWith(setup.conf);
const project = `prtest${process.pid}`;
const container = `${project}_relay_1`;
const tag = `localhost/pairing-relay-test-compose:${process.pid}`;
const file = join(setup.context, 'compose.test.yaml');

function compose(args: string[], timeoutMs = 60_000): Promise<string> {
  return sh('podman-compose', ['-p', project, '-f', file, ...args], {
    cwd: setup.context,
    env: podman.env,
    timeoutMs,
  });
}

afterAll(async () => {
  await cleanup();
  if (setup.skip !== null || !hasCompose) return;
  await compose(['down']).catch(() => undefined);
  await podman(['network', 'rm', '--force', `${project}_default`]).catch(() => undefined);
  await podman(['rmi', '--force', tag]).catch(() => undefined);
});

describe.skipIf(setup.skip !== null || !hasCompose)('compose.yaml under podman-compose', () => {
  it('builds, serves and pairs on the published port, is healthy, and stops with exit 0', async () => {
    const port = await freePort();
    const spec = parse(readFileSync(join(setup.context, 'compose.yaml'), 'utf8')) as {
      services: { relay: Record<string, unknown> & { build: Record<string, unknown> } };
    };
    const relay = spec.services.relay;
    expect(relay.ports).toEqual(['3001:3001']);
    relay.ports = [`127.0.0.1:${port}:3001`];
    relay.image = tag;
    relay.build.args = { NODE_IMAGE: setup.base, VERSION: setup.version };
    writeFileSync(file, stringify(spec));

    const started = Date.now();
    await compose(['up', '-d'], 600_000);
    const deadline = Date.now() + 30_000;
    const http = (path: string): string => `http://127.0.0.1:${port}${path}`;
    while (
      (await fetch(http('/health')).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > deadline) throw new Error('no /health 200 through the published port');
      await delay(100);
    }
    console.log(
      `compose: up (build from cache + start) to /health 200 in ${Date.now() - started} ms`,
    );

    // compose.yaml's hardening reached the container.
    const [info] = JSON.parse(await podman(['container', 'inspect', container])) as Array<{
      HostConfig: { ReadonlyRootfs: boolean; Memory: number; CapDrop: string[] };
      Config: { User: string };
    }>;
    expect(info?.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info?.HostConfig.Memory).toBe(512 * 1024 * 1024);
    expect(info?.HostConfig.CapDrop).toContain('CAP_NET_RAW');
    expect(info?.Config.User).toBe('1000:1000');

    const { target, controller } = await pair(`ws://127.0.0.1:${port}/ws`, '161803');
    target.send({ type: 'data', payload: 'through compose' });
    expect(await controller.next(5_000)).toEqual({ type: 'data', payload: 'through compose' });

    // compose.yaml's healthcheck (not the image's: compose's replaces it).
    await podman(['healthcheck', 'run', container], { timeoutMs: 30_000 });

    // podman-compose 1.0.3 ignores stop_grace_period and `down` waits only 1 s before
    // SIGKILL: stop with an explicit timeout, which the drain then fits in.
    const stopped = compose(['stop', '-t', '15']);
    await expect
      .poll(async () => (await fetch(http('/ready')).catch(() => undefined))?.status, {
        timeout: 10_000,
      })
      .toBe(503);
    controller.send({ type: 'done' });
    expect(await target.next(5_000)).toEqual({ type: 'done' });
    await stopped;
    const exit = JSON.parse(
      await podman(['container', 'inspect', '--format', '{{json .State.ExitCode}}', container]),
    ) as number;
    expect(exit).toBe(0);
  }, 600_000); // `up` builds: from cache after setup's build, but not if the cache missed
});
