import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

// Podman as the container tests drive it: the host's quirks in one containers.conf,
// a stand-in base image when the real node image cannot be pulled, and a clean copy
// of the repository as build context.

const execFileP = promisify(execFile);

/** Whether `tool` runs here. */
export function hasTool(tool: string, versionFlag = '--version'): boolean {
  return spawnSync(tool, [versionFlag], { stdio: 'ignore' }).status === 0;
}

/**
 * A containers.conf for this run, named by CONTAINERS_CONF for every podman (and
 * podman-compose) call. default_ulimits: podman 4.3 copies the host's RLIMIT_NOFILE
 * and NPROC into containers, which fails in a sandbox that may not raise them. On a
 * host with cgroup v1 or hybrid cgroups, crun refuses to start and there is no systemd
 * to manage cgroups: runc and cgroupfs. On cgroup v2 hosts podman's own defaults stay.
 */
export function writeContainersConf(dir: string): string {
  const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const lines = ['[containers]', 'default_ulimits = []'];
  if (!unified) lines.push('', '[engine]', 'runtime = "runc"', 'cgroup_manager = "cgroupfs"');
  const path = join(dir, 'containers.conf');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

export interface Podman {
  (args: string[], opts?: { cwd?: string; timeoutMs?: number }): Promise<string>;
  env: NodeJS.ProcessEnv;
}

/** A podman runner with this run's containers.conf; resolves with stdout, throws with stderr. */
export function podmanWith(conf: string): Podman {
  // BUILDAH_FORMAT: podman-compose builds without --format, and the OCI format drops
  // HEALTHCHECK and STOPSIGNAL; docker format keeps them and shares the build cache.
  const env = { ...process.env, CONTAINERS_CONF: conf, BUILDAH_FORMAT: 'docker' };
  const run = async (
    args: string[],
    opts: { cwd?: string; timeoutMs?: number } = {},
  ): Promise<string> => {
    try {
      const { stdout } = await execFileP('podman', args, {
        env,
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`podman ${args.join(' ')}: ${e.message}\n${e.stderr ?? ''}`);
    }
  };
  return Object.assign(run, { env });
}

/** Runs a command, throwing with its output on failure. */
export async function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/**
 * The repository's tracked files as they are in the work tree, copied to a fresh
 * directory: the build context a clean clone would give, without node_modules or dist.
 */
export async function cleanCopy(root: string): Promise<string> {
  const listed = await sh('git', ['ls-files', '-z'], { cwd: root });
  const dir = mkdtempSync(join(tmpdir(), 'pairing-relay-context-'));
  for (const file of listed.split('\0').filter((f) => f !== '')) {
    if (!existsSync(join(root, file))) continue; // deleted in the work tree
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await cp(join(root, file), join(dir, file), { verbatimSymlinks: true });
  }
  return dir;
}

const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const NPM_DIR = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');

/**
 * The stand-in for node:20-bookworm-slim, named by what goes into it (this node, its
 * npm, the host's CA bundle, this recipe), so a later run on the same machine reuses it.
 */
export function standInTag(): string {
  const hash = createHash('sha256')
    .update(process.version)
    .update(readFileSync(join(NPM_DIR, 'package.json')))
    .update(existsSync(CA_BUNDLE) ? readFileSync(CA_BUNDLE) : '')
    .update(readFileSync(new URL(import.meta.url)))
    .digest('hex')
    .slice(0, 12);
  return `localhost/pairing-relay-test-base:${hash}`;
}

export async function imageExists(podman: Podman, tag: string): Promise<boolean> {
  try {
    await podman(['image', 'exists', tag]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds the stand-in base: Debian bookworm (debootstrap minbase, the same Debian
 * release as bookworm-slim), this process's node binary and its npm in /usr/local
 * like the official image, a uid 1000 `node` user, and the host's CA bundle (the only
 * route to the npm registry here may be a TLS-intercepting proxy the host trusts).
 */
export async function buildStandInBase(podman: Podman, tag: string): Promise<void> {
  if (!existsSync(join(NPM_DIR, 'bin', 'npm-cli.js'))) {
    throw new Error(`no npm beside ${process.execPath} (looked in ${NPM_DIR})`);
  }
  const work = mkdtempSync(join(tmpdir(), 'pairing-relay-base-'));
  const rootfs = join(work, 'rootfs');
  try {
    const mirror = process.env['DEBIAN_MIRROR'] ?? 'http://deb.debian.org/debian';
    await sh('debootstrap', ['--variant=minbase', 'bookworm', rootfs, mirror], {
      timeoutMs: 600_000,
    });
    // What bookworm-slim leaves out too: package lists, downloaded .debs, docs.
    for (const path of ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/doc']) {
      await rm(join(rootfs, path), { recursive: true, force: true });
      await mkdir(join(rootfs, path), { recursive: true });
    }
    for (const path of ['usr/share/man', 'usr/share/locale']) {
      await rm(join(rootfs, path), { recursive: true, force: true });
    }
    await cp(process.execPath, join(rootfs, 'usr/local/bin/node'));
    await cp(NPM_DIR, join(rootfs, 'usr/local/lib/node_modules/npm'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await sh('ln', ['-s', '../lib/node_modules/npm/bin/npm-cli.js', 'usr/local/bin/npm'], {
      cwd: rootfs,
    });
    await sh('ln', ['-s', '../lib/node_modules/npm/bin/npx-cli.js', 'usr/local/bin/npx'], {
      cwd: rootfs,
    });
    if (existsSync(CA_BUNDLE)) {
      await mkdir(join(rootfs, 'etc/ssl/certs'), { recursive: true });
      await cp(CA_BUNDLE, join(rootfs, CA_BUNDLE.slice(1)));
    }
    const append = (file: string, line: string): void =>
      writeFileSync(join(rootfs, file), line + '\n', { flag: 'a' });
    append('etc/passwd', 'node:x:1000:1000::/home/node:/bin/sh');
    append('etc/group', 'node:x:1000:');
    append('etc/shadow', 'node:*:19000:0:99999:7:::');
    await mkdir(join(rootfs, 'home/node'), { recursive: true });
    await sh('chown', ['1000:1000', join(rootfs, 'home/node')]);
    await sh('tar', ['-C', rootfs, '-cf', join(work, 'rootfs.tar'), '.'], { timeoutMs: 120_000 });
    await podman(
      [
        'import',
        '--change',
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--change',
        `ENV NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`,
        '--change',
        'CMD ["node"]',
        join(work, 'rootfs.tar'),
        tag,
      ],
      { timeoutMs: 300_000 },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
