import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import {
  buildStandInBase,
  cleanCopy,
  hasTool,
  imageExists,
  podmanWith,
  standInTag,
  writeContainersConf,
} from '../helpers/podman.js';

// Once per run, before the container tests: the base image (the real node image when
// RELAY_TEST_NODE_IMAGE names one that can be pulled, else a stand-in built from
// Debian packages, reused across runs on the same machine), then Dockerfile.relay
// built from a clean copy of the repository. The tests get the names and timings.

export interface ContainerSetup {
  /** Why the container tests are skipped, or null when they run. */
  skip: string | null;
  conf: string;
  base: string;
  /** true when the stand-in base was built by this run (false: reused or pulled). */
  baseBuilt: boolean;
  baseMs: number;
  image: string;
  imageMs: number;
  context: string;
  version: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    container: ContainerSetup;
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const version = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  ).version;
  const realBase = process.env['RELAY_TEST_NODE_IMAGE'];
  const needed = realBase === undefined ? ['podman', 'debootstrap'] : ['podman'];
  const missing = needed.filter((tool) => !hasTool(tool));
  const empty: ContainerSetup = {
    skip: null,
    conf: '',
    base: '',
    baseBuilt: false,
    baseMs: 0,
    image: '',
    imageMs: 0,
    context: '',
    version,
  };
  if (missing.length > 0) {
    const message = `${missing.join(' and ')} not installed: the container image tests are SKIPPED`;
    if (process.env['CI'] === 'true') throw new Error(`${message}, and CI=true requires them`);
    console.warn(`\n*** ${message} (apt-get install podman runc debootstrap podman-compose) ***\n`);
    project.provide('container', { ...empty, skip: message });
    return async () => {};
  }

  const confDir = mkdtempSync(join(tmpdir(), 'pairing-relay-podman-'));
  const conf = writeContainersConf(confDir);
  const podman = podmanWith(conf);

  const base = realBase ?? standInTag();
  let baseBuilt = false;
  let started = Date.now();
  if (realBase !== undefined) {
    await podman(['pull', realBase], { timeoutMs: 300_000 });
  } else if (!(await imageExists(podman, base))) {
    await buildStandInBase(podman, base);
    baseBuilt = true;
  }
  const baseMs = Date.now() - started;

  const context = await cleanCopy(ROOT);
  const image = `localhost/pairing-relay-test:${process.pid}-${Date.now()}`;
  started = Date.now();
  await podman(
    [
      'build',
      '--format',
      'docker',
      '--network=host',
      '-f',
      'Dockerfile.relay',
      '--build-arg',
      `NODE_IMAGE=${base}`,
      '--build-arg',
      `VERSION=${version}`,
      '-t',
      image,
      '.',
    ],
    { cwd: context, timeoutMs: 600_000 },
  );
  const imageMs = Date.now() - started;
  project.provide('container', {
    skip: null,
    conf,
    base,
    baseBuilt,
    baseMs,
    image,
    imageMs,
    context,
    version,
  });

  return async () => {
    // The base stays for the next run; this run's image tag goes (its layers stay
    // as build cache). Compose's own tag is removed by its test.
    await podman(['rmi', '--force', image]).catch(() => undefined);
    // Untagged images from replaced builds would pile up run after run.
    await podman(['image', 'prune', '--force']).catch(() => undefined);
    rmSync(context, { recursive: true, force: true });
    rmSync(confDir, { recursive: true, force: true });
  };
}
