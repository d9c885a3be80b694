// Transport-independent: the deployment files all run the Node CLI; its relay is that one.
// The deployment files (Dockerfile.relay, compose.yaml, fly.toml, k8s/, deploy/cloudrun/)
// checked against the relay itself: ports, probe paths, drain window, env names and
// the one-replica rule. Parsed with real YAML/TOML parsers; the Kustomize base is
// rendered with `kubectl kustomize` when kubectl is installed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { DEFAULTS, SETTINGS } from '../src/config/options.js';
import { createRelayServer, type RelayServer } from '../src/index.js';
import {
  all,
  execForm,
  finalStage,
  isDockerIgnored,
  only,
  parseCopy,
  parseHealthcheck,
  readDockerfile,
  stageEnv,
  stageNamed,
  workdir,
  type Dockerfile,
} from './helpers/dockerfile.js';
import { cleanup, pair } from './helpers/relay.js';

// Parsed manifests are untyped trees; the assertions below are their schema.
type Tree = any;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...parts: string[]): string => join(ROOT, ...parts);
const text = (...parts: string[]): string => readFileSync(at(...parts), 'utf8');
const yamlFile = (...parts: string[]): Tree => parseYaml(text(...parts));

/** After SIGTERM: RELAY_DRAIN_MS for live sessions, then up to this to close sockets (server.ts). */
const CLOSE_GRACE_MS = 2_000;
/** What every platform must allow between SIGTERM and SIGKILL with the default drain. */
const SHUTDOWN_MS = DEFAULTS.drainMs + CLOSE_GRACE_MS;
const KNOWN_ENV = new Set(SETTINGS.map((s) => s.env));
const LIVENESS = '/health';
const READINESS = '/ready';

// Measured in k8s/deployment.yaml's comment: idle RSS and the cost of one open socket.
const MEASURED_IDLE_MIB = 64;
const MEASURED_KIB_PER_SOCKET = 12;

function durationMs(value: string | number): number {
  if (typeof value === 'number') return value * 1000; // compose/fly: bare numbers are seconds
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value.trim());
  if (m === null) throw new Error(`not a duration: ${value}`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}

function mebibytes(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (m === null) throw new Error(`not a Mi/Gi quantity: ${quantity}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

function envRecord(env: Tree): Record<string, string> {
  if (env === undefined || env === null) return {};
  if (Array.isArray(env)) {
    // Kubernetes/Knative `- name: X / value: Y`, or compose's `- X=Y`.
    return Object.fromEntries(
      env.map((e: Tree) =>
        typeof e === 'string' ? e.split(/=(.*)/s).slice(0, 2) : [e.name, String(e.value)],
      ),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

function expectKnownEnv(env: Record<string, string>, where: string): void {
  for (const name of Object.keys(env)) {
    expect(KNOWN_ENV.has(name), `${where}: ${name} is not a relay setting`).toBe(true);
  }
}

// ---------------------------------------------------------------- Dockerfile.relay

describe('Dockerfile.relay', () => {
  const docker: Dockerfile = readDockerfile(at('Dockerfile.relay'));
  const runtime = finalStage(docker);
  const ignore = text('.dockerignore').split('\n');

  it('is multi-stage on Node 20, with a production-only runtime stage', () => {
    expect(docker.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of docker.stages) expect(stage.image).toMatch(/^node:20(-|$|@)/);
    const build = stageNamed(docker, 'build');
    const runs = all(build, 'RUN').map((r) => r.args);
    expect(runs.some((r) => /^npm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
    expect(runs).toContain('npm run build');
    // Every node_modules that reaches the runtime stage was installed without dev deps.
    const copies = all(runtime, 'COPY').map(parseCopy);
    const modules = copies.filter((c) => c.sources.some((s) => s.endsWith('node_modules')));
    expect(modules).toHaveLength(1);
    const from = stageNamed(docker, modules[0]!.from!);
    const install = all(from, 'RUN').map((r) => r.args);
    expect(install.filter((r) => /^npm ci\b/.test(r))).toEqual([
      expect.stringContaining('--omit=dev'),
    ]);
    expect(all(runtime, 'RUN')).toEqual([]); // nothing is installed or built in the final stage
  });

  it('copies only files that exist after `npm run build` and are not .dockerignored', () => {
    expect(existsSync(at('dist', 'cli.js')), 'run `npm run build` first').toBe(true);
    const stagesByName = new Map(docker.stages.map((s) => [s.name, s]));
    let copied = 0;
    for (const stage of docker.stages) {
      for (const copy of all(stage, 'COPY').map(parseCopy)) {
        for (const source of copy.sources) {
          copied++;
          if (copy.from === undefined) {
            // From the build context: must exist and survive .dockerignore.
            expect(existsSync(at(source)), `COPY ${source}`).toBe(true);
            expect(isDockerIgnored(source, ignore), `.dockerignore drops ${source}`).toBe(false);
            continue;
          }
          // From an earlier stage: a path under its WORKDIR.
          const origin = stagesByName.get(copy.from);
          expect(origin, `COPY --from=${copy.from}`).toBeDefined();
          const relative = posix.relative(workdir(origin!), source);
          expect(relative.startsWith('..'), `${source} outside ${workdir(origin!)}`).toBe(false);
          if (relative === 'node_modules') {
            expect(all(origin!, 'RUN').some((r) => /^npm ci\b/.test(r.args))).toBe(true);
          } else {
            expect(existsSync(at(relative)), `COPY --from=${copy.from} ${source}`).toBe(true);
          }
        }
      }
    }
    expect(copied).toBeGreaterThan(0);
    for (const needed of ['package.json', 'package-lock.json', 'src', 'tsconfig.build.json']) {
      expect(isDockerIgnored(needed, ignore), needed).toBe(false);
    }
    for (const dropped of ['node_modules', 'dist', '.git', 'test', 'bench', 'coverage', 'x.tgz']) {
      expect(isDockerIgnored(dropped, ignore), dropped).toBe(true);
    }
    // tsconfig.build.json extends tsconfig.json: the build stage needs both.
    const buildSources = all(stageNamed(docker, 'build'), 'COPY').flatMap(
      (c) => parseCopy(c).sources,
    );
    expect(buildSources).toEqual(expect.arrayContaining(['tsconfig.json', 'tsconfig.build.json']));
    // The runtime needs package.json for "type": "module", plus dist and node_modules.
    const runtimeDests = all(runtime, 'COPY').map((c) =>
      posix.normalize(parseCopy(c).dest).replace(/(.)\/$/, '$1'),
    );
    expect(runtimeDests).toEqual(expect.arrayContaining(['node_modules', 'dist', '.']));
  });

  it('runs as non-root, exposes the default port, checks health, stops on SIGTERM', () => {
    const user = only(runtime, 'USER').args.split(':')[0]!;
    expect(['root', '0']).not.toContain(user);
    expect(only(runtime, 'EXPOSE').args.split(/\s+/)).toContain(String(DEFAULTS.port));
    const env = stageEnv(runtime);
    expect(env).toMatchObject({
      PORT: String(DEFAULTS.port),
      HOST: DEFAULTS.host,
      NODE_ENV: 'production',
    });
    const { NODE_ENV: _nodeEnv, ...relayEnv } = env;
    expectKnownEnv(relayEnv, 'Dockerfile ENV');
    const health = parseHealthcheck(only(runtime, 'HEALTHCHECK'));
    expect(health.command[0]).toBe('node');
    expect(health.command.join(' ')).toContain(LIVENESS);
    expect(health.command.join(' ')).toContain('process.env.PORT');
    expect(only(runtime, 'STOPSIGNAL').args).toBe('SIGTERM');
    const cmd = execForm(only(runtime, 'CMD').args);
    expect(cmd[0]).toBe('node');
    expect(existsSync(at(cmd[1]!))).toBe(true);
    const pkg = JSON.parse(text('package.json')) as { bin: Record<string, string> };
    expect(Object.values(pkg.bin)).toContain(cmd[1]);
  });
});

// ---------------------------------------------------------------- compose.yaml

describe('compose.yaml', () => {
  const relay: Tree = yamlFile('compose.yaml').services.relay;

  it('builds Dockerfile.relay and publishes the default port', () => {
    expect(relay.build.dockerfile).toBe('Dockerfile.relay');
    expect(existsSync(at(relay.build.context, relay.build.dockerfile))).toBe(true);
    expect(relay.ports).toContain(`${DEFAULTS.port}:${DEFAULTS.port}`);
    const env = envRecord(relay.environment);
    expect(env.PORT ?? String(DEFAULTS.port)).toBe(String(DEFAULTS.port));
    expectKnownEnv(env, 'compose.yaml');
    expect(env.AMESH_TRUST_PROXY, 'published directly: no proxy to trust').toBeUndefined();
  });

  it('stops gracefully, restarts, read-only, and checks health like the image does', () => {
    expect(durationMs(relay.stop_grace_period)).toBeGreaterThan(SHUTDOWN_MS);
    expect(relay.stop_signal ?? 'SIGTERM').toBe('SIGTERM');
    expect(relay.restart).toBe('unless-stopped');
    expect(relay.read_only).toBe(true);
    const image = parseHealthcheck(
      only(finalStage(readDockerfile(at('Dockerfile.relay'))), 'HEALTHCHECK'),
    );
    // CMD-SHELL (podman-compose 1.0.3 breaks exec-form lists): the same node -e, in
    // double quotes, so the script must hold nothing a shell expands there.
    const [node, flag, script] = image.command;
    expect([node, flag]).toEqual(['node', '-e']);
    expect(script).not.toMatch(/["$`\\]/);
    expect(relay.healthcheck.test).toEqual(['CMD-SHELL', `node -e "${script}"`]);
  });
});

// ---------------------------------------------------------------- fly.toml

describe('fly.toml', () => {
  const fly: Tree = parseToml(text('fly.toml'));

  it('builds Dockerfile.relay, trusts one proxy hop, serves the default port', () => {
    expect(fly.build.dockerfile).toBe('Dockerfile.relay');
    expect(fly.env.AMESH_TRUST_PROXY).toBe('1');
    expectKnownEnv(envRecord(fly.env), 'fly.toml [env]');
    expect(fly.http_service.internal_port).toBe(DEFAULTS.port);
  });

  it('scales to zero, limits connections below the socket cap, checks /health', () => {
    const svc = fly.http_service;
    expect(svc.auto_stop_machines).toBe('stop');
    expect(svc.auto_start_machines).toBe(true);
    expect(svc.min_machines_running).toBe(0);
    expect(svc.concurrency.type).toBe('connections');
    expect(svc.concurrency.soft_limit).toBeLessThanOrEqual(svc.concurrency.hard_limit);
    expect(svc.concurrency.hard_limit).toBeLessThan(DEFAULTS.maxSockets);
    expect(svc.checks.map((c: Tree) => c.path)).toEqual([LIVENESS]);
  });

  it('sends SIGTERM and waits longer than the drain window', () => {
    expect(fly.kill_signal).toBe('SIGTERM');
    expect(fly.kill_timeout * 1000).toBeGreaterThan(DEFAULTS.drainMs);
    expect(durationMs(fly.kill_timeout)).toBeGreaterThan(SHUTDOWN_MS);
  });
});

// ---------------------------------------------------------------- k8s/

const kustomization: Tree = yamlFile('k8s', 'kustomization.yaml');

function hasKubectl(): boolean {
  try {
    execFileSync('which', ['kubectl'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `kubectl kustomize k8s` when kubectl is there, else the listed resources as they are. */
function renderK8s(): { docs: Tree[]; rendered: boolean } {
  if (hasKubectl()) {
    const out = execFileSync('kubectl', ['kustomize', at('k8s')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { docs: parseAllDocuments(out).map((d) => d.toJS()), rendered: true };
  }
  const docs = (kustomization.resources as string[]).flatMap((file) =>
    parseAllDocuments(text('k8s', file)).map((d) => d.toJS()),
  );
  return { docs, rendered: false };
}

describe('k8s (Kustomize base)', () => {
  const { docs, rendered } = renderK8s();
  const ofKind = (kind: string): Tree => {
    const found = docs.filter((d) => d?.kind === kind);
    if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
    return found[0];
  };
  const deployment = ofKind('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const httpPort = container.ports.find((p: Tree) => p.name === 'http');

  it(`renders every resource it lists (${rendered ? 'kubectl kustomize' : 'files as listed'})`, () => {
    for (const file of kustomization.resources as string[]) {
      expect(existsSync(at('k8s', file)), file).toBe(true);
    }
    expect(docs.map((d) => d.kind).sort()).toEqual(
      ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service'].sort(),
    );
    expect(container.image).toBe('pairing-relay:latest');
  });

  it('runs ONE replica and the autoscaler cannot add a second', () => {
    expect(deployment.spec.replicas).toBe(1);
    const hpa = ofKind('HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toMatchObject({
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([1, 1]);
    expect(hpa.spec.metrics[0].resource).toMatchObject({
      name: 'cpu',
      target: { type: 'Utilization', averageUtilization: 70 },
    });
  });

  it('serves the default port as `http` and probes /health and /ready on it', () => {
    expect(container.ports).toHaveLength(1);
    expect(httpPort.containerPort).toBe(DEFAULTS.port);
    const env = envRecord(container.env);
    expect(env.PORT).toBe(String(httpPort.containerPort));
    expect(env.AMESH_TRUST_PROXY).toBe('1');
    expectKnownEnv(env, 'deployment.yaml');
    expect(container.readinessProbe.httpGet).toEqual({ path: READINESS, port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: LIVENESS, port: 'http' });
    expect(container.startupProbe.httpGet).toEqual({ path: LIVENESS, port: 'http' });
  });

  it('gives the pod longer than preStop + drain + close before SIGKILL', () => {
    const preStop: string[] = container.lifecycle?.preStop?.exec?.command ?? [];
    const preStopMs = preStop[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(DEFAULTS.drainMs);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + SHUTDOWN_MS);
  });

  it('is locked down: non-root uid of the image, read-only root, no privileges', () => {
    const dockerUser = only(finalStage(readDockerfile(at('Dockerfile.relay'))), 'USER').args;
    const uid = Number(dockerUser.split(':')[0]);
    const sc = { ...pod.securityContext, ...container.securityContext };
    expect(sc).toMatchObject({
      runAsNonRoot: true,
      runAsUser: uid,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(uid).not.toBe(0);
    expect(sc.capabilities.drop).toContain('ALL');
    expect(sc.capabilities.add).toBeUndefined();
  });

  it('sizes memory for the default socket cap with the measured per-socket cost', () => {
    const { requests, limits } = container.resources;
    const steadyAtCapMiB =
      MEASURED_IDLE_MIB + (DEFAULTS.maxSockets * MEASURED_KIB_PER_SOCKET) / 1024;
    expect(mebibytes(limits.memory)).toBeGreaterThanOrEqual(2 * steadyAtCapMiB);
    expect(mebibytes(requests.memory)).toBeGreaterThan(MEASURED_IDLE_MIB);
    expect(mebibytes(requests.memory)).toBeLessThanOrEqual(mebibytes(limits.memory));
    expect(requests.cpu).toBeDefined();
  });

  it('routes the Service to the named port and keeps node drains possible', () => {
    const podLabels = deployment.spec.template.metadata.labels;
    const service = ofKind('Service');
    expect(service.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(service.spec.ports).toEqual([expect.objectContaining({ port: 80, targetPort: 'http' })]);
    expect(podLabels).toMatchObject(service.spec.selector);
    const pdb = ofKind('PodDisruptionBudget');
    expect(podLabels).toMatchObject(pdb.spec.selector.matchLabels);
    // minAvailable >= replicas would forbid every eviction, so `kubectl drain` would hang.
    if (pdb.spec.minAvailable !== undefined) {
      expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    } else {
      expect(pdb.spec.maxUnavailable).toBeGreaterThanOrEqual(1);
    }
    expect(deployment.spec.selector.matchLabels).toEqual(podLabels);
  });
});

// ---------------------------------------------------------------- Cloud Run

describe('deploy/cloudrun/service.yaml', () => {
  const svc: Tree = yamlFile('deploy', 'cloudrun', 'service.yaml');
  const template = svc.spec.template;
  const annotations = template.metadata.annotations;
  const container = template.spec.containers[0];
  const env = envRecord(container.env);

  it('is a Knative Service capped at ONE instance that scales to zero', () => {
    expect([svc.apiVersion, svc.kind]).toEqual(['serving.knative.dev/v1', 'Service']);
    expect(annotations['autoscaling.knative.dev/minScale']).toBe('0');
    expect(annotations['autoscaling.knative.dev/maxScale']).toBe('1');
    expect(annotations['run.googleapis.com/startup-cpu-boost']).toBe('true');
    expect(annotations['run.googleapis.com/sessionAffinity'] ?? 'true').toBe('true');
  });

  it('fits the relay: port, concurrency under the socket cap, timeout over a session', () => {
    expect(container.ports).toEqual([{ name: 'http1', containerPort: DEFAULTS.port }]);
    const concurrency = template.spec.containerConcurrency;
    expect(concurrency).toBeGreaterThan(0);
    expect(concurrency).toBeLessThanOrEqual(1000); // Cloud Run's maximum
    expect(concurrency).toBeLessThanOrEqual(DEFAULTS.maxSockets);
    const timeout = template.spec.timeoutSeconds;
    expect(timeout).toBeLessThanOrEqual(3600);
    expect(timeout * 1000).toBeGreaterThan(DEFAULTS.sessionTtlMs + DEFAULTS.pairedTtlMs);
    expect(timeout * 1000).toBeGreaterThan(DEFAULTS.watchTtlMs);
  });

  it('trusts one hop, leaves PORT to Cloud Run, drains within its 10 s SIGKILL', () => {
    expect(env.AMESH_TRUST_PROXY).toBe('1');
    expect(env.PORT, 'PORT is reserved on Cloud Run').toBeUndefined();
    expectKnownEnv(env, 'cloudrun service.yaml');
    const drainMs = Number(env.RELAY_DRAIN_MS ?? DEFAULTS.drainMs);
    expect(drainMs + CLOSE_GRACE_MS).toBeLessThan(10_000);
    expect(container.startupProbe.httpGet).toEqual({ path: LIVENESS, port: DEFAULTS.port });
    expect(container.livenessProbe?.httpGet?.path ?? LIVENESS).toBe(LIVENESS);
  });

  it('has a Cloud Build config that builds Dockerfile.relay', () => {
    const build: Tree = yamlFile('deploy', 'cloudrun', 'cloudbuild.yaml');
    const args: string[] = build.steps[0].args;
    expect(args[args.indexOf('-f') + 1]).toBe('Dockerfile.relay');
    expect(build.images).toEqual([args[args.indexOf('-t') + 1]]);
    expect(build.substitutions._IMAGE).toBe(container.image);
  });
});

// ---------------------------------------------------------------- probe paths are real

/** Every HTTP path a manifest probes, with what it probes for. */
function probePaths(): { liveness: Set<string>; readiness: Set<string> } {
  const liveness = new Set<string>();
  const readiness = new Set<string>();
  const urlPath = (command: string[]): string => {
    const m = /\/[a-z]+(?=')/.exec(command.join(' '));
    if (m === null) throw new Error(`no path in ${command.join(' ')}`);
    return m[0];
  };
  const docker = readDockerfile(at('Dockerfile.relay'));
  liveness.add(urlPath(parseHealthcheck(only(finalStage(docker), 'HEALTHCHECK')).command));
  liveness.add(urlPath(yamlFile('compose.yaml').services.relay.healthcheck.test));
  const fly: Tree = parseToml(text('fly.toml'));
  for (const check of fly.http_service.checks) liveness.add(check.path);
  const containers: Tree[] = [
    ...renderK8s()
      .docs.filter((d) => d.kind === 'Deployment')
      .flatMap((d) => d.spec.template.spec.containers),
    ...yamlFile('deploy', 'cloudrun', 'service.yaml').spec.template.spec.containers,
  ];
  for (const c of containers) {
    for (const probe of [c.livenessProbe, c.startupProbe]) {
      if (probe?.httpGet?.path !== undefined) liveness.add(probe.httpGet.path);
    }
    if (c.readinessProbe?.httpGet?.path !== undefined) readiness.add(c.readinessProbe.httpGet.path);
  }
  return { liveness, readiness };
}

describe('the probed paths are served', () => {
  let relay: RelayServer | undefined;
  afterEach(async () => {
    await cleanup();
    await relay?.stop();
    relay = undefined;
  });

  it('liveness 200 and readiness 200; while draining readiness 503 and liveness still 200', async () => {
    const { liveness, readiness } = probePaths();
    expect([...liveness]).toEqual([LIVENESS]);
    expect([...readiness]).toEqual([READINESS]);
    relay = createRelayServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', drainMs: 5_000 });
    const { url, healthUrl } = await relay.start();
    const http = (path: string): Promise<Response> => fetch(new URL(path, healthUrl));
    for (const path of liveness) expect((await http(path)).status, path).toBe(200);
    for (const path of readiness) {
      const res = await http(path);
      expect([res.status, await res.json()]).toEqual([200, { status: 'ready' }]);
    }

    // A live pairing keeps the relay draining, as a rollout would find it.
    const { target } = await pair(url, '482916');

    const drained = relay.drain();
    for (const path of readiness) {
      const res = await http(path);
      expect([res.status, await res.json()]).toEqual([503, { status: 'draining' }]);
    }
    for (const path of liveness) expect((await http(path)).status, path).toBe(200);
    target.send({ type: 'done' });
    await drained;
  });
});
