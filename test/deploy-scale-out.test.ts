// Transport-independent: the k8s scale-out overlay, read as files; no socket.
// The Kubernetes scale-out overlay (deploy/k8s-scale-out): several relay pods
// sharing one Redis. Rendered with `kubectl kustomize` when kubectl is there;
// otherwise its own files are checked as written.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { SETTINGS } from '../src/config/options.js';

// Parsed manifests are untyped trees; the assertions below are their schema.
type Tree = any;

const OVERLAY = fileURLToPath(new URL('../deploy/k8s-scale-out', import.meta.url));
const KNOWN_ENV = new Set(SETTINGS.map((s) => s.env));

function kubectlRender(): Tree[] | undefined {
  try {
    const out = execFileSync('kubectl', ['kustomize', OVERLAY], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    return parseAllDocuments(out).map((d) => d.toJS());
  } catch {
    return undefined;
  }
}

const filesAsWritten = (): Tree[] =>
  ['relay-scale-out.yaml', 'redis.yaml'].flatMap((f) =>
    parseAllDocuments(readFileSync(join(OVERLAY, f), 'utf8')).map((d) => d.toJS()),
  );

const rendered = kubectlRender();
const docs = rendered ?? filesAsWritten();
const find = (kind: string, name: string): Tree => {
  const doc = docs.find((d) => d?.kind === kind && d.metadata?.name === name);
  if (doc === undefined) throw new Error(`${kind}/${name} missing`);
  return doc;
};

describe(`k8s scale-out overlay (${rendered ? 'kubectl kustomize' : 'files as written'})`, () => {
  const relay = find('Deployment', 'pairing-relay');
  const container = relay.spec.template.spec.containers.find((c: Tree) => c.name === 'relay');
  const env = new Map<string, Tree>(container.env.map((e: Tree) => [e.name, e]));
  const redisService = find('Service', 'pairing-relay-redis');
  const redis = find('Deployment', 'pairing-relay-redis');

  it('runs several relay pods, all on the same Redis and the same secret', () => {
    expect(relay.spec.replicas).toBeGreaterThan(1);
    const url = new URL(env.get('REDIS_URL').value as string);
    expect(url.protocol).toBe('redis:');
    expect(url.hostname).toBe(redisService.metadata.name);
    expect(Number(url.port)).toBe(redisService.spec.ports[0].port);
    expect(env.get('RELAY_REDIS_SECRET').valueFrom.secretKeyRef).toMatchObject({
      name: 'pairing-relay',
      key: 'redis-secret',
    });
    for (const name of env.keys()) expect(KNOWN_ENV.has(name), name).toBe(true);
    // Consistent with the documented default: a Redis outage does not empty the Service.
    expect(env.get('RELAY_READY_DURING_REDIS_OUTAGE').value).toBe('1');
  });

  it('Redis keeps nothing on disk and is locked down', () => {
    const args: string[] = redis.spec.template.spec.containers[0].args;
    expect(args.join(' ')).toContain('--save  --appendonly no');
    const sc = redis.spec.template.spec.containers[0].securityContext;
    expect(sc).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(redis.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(redisService.spec.selector).toEqual(redis.spec.selector.matchLabels);
  });

  it.runIf(rendered !== undefined)(
    'the autoscaler and disruption budget allow several pods',
    () => {
      const hpa = find('HorizontalPodAutoscaler', 'pairing-relay');
      expect(hpa.spec.minReplicas).toBeGreaterThan(1);
      expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
      expect(find('PodDisruptionBudget', 'pairing-relay').spec.minAvailable).toBe(1);
      // The base's probes and env survive the patch.
      expect(container.readinessProbe.httpGet.path).toBe('/ready');
      expect(env.get('AMESH_TRUST_PROXY').value).toBe('1');
    },
  );
});
