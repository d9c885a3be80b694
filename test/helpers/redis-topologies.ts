import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { delay, freePort } from './relay.js';

// Redis topologies started by the tests: every file (cluster configs,
// sentinel configs, replication dumps, certificates) in one temp dir, every
// process killed and the dir removed by stop(), even after a failed test.

export const hasRedisCli = spawnSync('redis-cli', ['--version']).status === 0;

/** One redis-server process on a fixed port, from a config file in the topology's dir. */
export class RedisNode {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly conf: string,
    private readonly sentinel = false,
  ) {}

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  async start(): Promise<void> {
    const args = this.sentinel ? [this.conf, '--sentinel'] : [this.conf];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (chunk: Buffer): void => {
        out += chunk.toString();
        if (/Ready to accept connections|Sentinel ID is|monitor master/.test(out)) {
          child.stdout?.off('data', onData);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code) =>
        reject(new Error(`redis-server ${this.port} exited ${code}: ${out}`)),
      );
    });
    // Keep the pipe drained: a full pipe would stall the server.
    child.stdout?.resume();
    child.stderr?.resume();
  }

  /** SIGSTOP: the node keeps its sockets open and answers nothing, as a hung or partitioned host does. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async kill(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
  }
}

/** A temp dir and the nodes started in it. */
export class Topology {
  readonly dir = mkdtempSync(join(tmpdir(), 'relay-redis-'));
  readonly nodes: RedisNode[] = [];

  /** A node from `conf` lines (port, dir and no persistence added). */
  async node(
    lines: string[],
    opts: { sentinel?: boolean; port?: number; start?: boolean; tlsOnly?: boolean } = {},
  ): Promise<RedisNode> {
    const port = opts.port ?? (await freePort());
    const name = `${opts.sentinel === true ? 'sentinel' : 'redis'}-${port}`;
    const conf = join(this.dir, `${name}.conf`);
    const base = opts.sentinel === true ? [] : ['save ""', 'appendonly no'];
    writeFileSync(
      conf,
      [
        ...(opts.tlsOnly === true ? ['port 0', `tls-port ${port}`] : [`port ${port}`]),
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        ...base,
        ...lines,
        '',
      ].join('\n'),
    );
    const node = new RedisNode(port, conf, opts.sentinel === true);
    this.nodes.push(node);
    if (opts.start !== false) await node.start();
    return node;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `check` every 100 ms until true, or throws after `timeoutMs` with `what`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await delay(100);
  }
}

/** Ports served over TLS only, and how to reach them. */
const tlsPorts = new Map<number, { ca: Buffer; servername: string }>();

/** INFO/CLUSTER INFO etc. from one node, on a short-lived connection. */
export async function ask(port: number, ...command: string[]): Promise<unknown> {
  const tls = tlsPorts.get(port);
  const client = new Redis({
    ...(tls === undefined ? {} : { tls }),
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await client.connect();
    return await client.call(command[0] as string, ...command.slice(1));
  } finally {
    client.disconnect();
  }
}

/**
 * A Redis Cluster of three masters, and no replicas unless asked for (one
 * per master), built with `redis-cli --cluster create`. The bus port is set
 * (port + 10000 overflows for high free ports) and the node timeout is
 * short, so a killed node fails the cluster (or its replica takes over)
 * within a second or two, and a restarted one is back as fast.
 */
export interface ClusterTls {
  ca: string;
  cert: string;
  key: string;
  servername: string;
}

export async function startCluster(
  tls?: ClusterTls,
  topology = new Topology(),
  withReplicas = false,
): Promise<{
  topology: Topology;
  masters: RedisNode[];
  replicas: RedisNode[];
  seeds: string;
}> {
  try {
    const nodes: RedisNode[] = [];
    for (let i = 0; i < (withReplicas ? 6 : 3); i++) {
      const port = await freePort();
      if (tls !== undefined) {
        tlsPorts.set(port, { ca: readFileSync(tls.ca), servername: tls.servername });
      }
      const bus = await freePort();
      nodes.push(
        await topology.node(
          [
            'cluster-enabled yes',
            `cluster-config-file nodes-${port}.conf`,
            `cluster-port ${bus}`,
            'cluster-node-timeout 1000',
            // No 5 s wait before a replica's first full sync.
            'repl-diskless-sync-delay 0',
            ...(tls === undefined
              ? []
              : [
                  `tls-cert-file ${tls.cert}`,
                  `tls-key-file ${tls.key}`,
                  `tls-ca-cert-file ${tls.ca}`,
                  'tls-auth-clients no',
                  'tls-cluster yes',
                ]),
          ],
          { port, tlsOnly: tls !== undefined },
        ),
      );
    }
    const create = spawnSync(
      'redis-cli',
      [
        ...(tls === undefined ? [] : ['--tls', '--cacert', tls.ca, '--sni', tls.servername]),
        '--cluster',
        'create',
        ...nodes.map((m) => `127.0.0.1:${m.port}`),
        ...(withReplicas ? ['--cluster-replicas', '1'] : []),
        '--cluster-yes',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create: ${create.stdout}${create.stderr}`);
    await clusterOk(nodes, 20_000);
    // redis-cli picks which nodes serve as masters: ask each one.
    const masters: RedisNode[] = [];
    const replicas: RedisNode[] = [];
    for (const node of nodes) {
      const role = (await ask(node.port, 'ROLE')) as unknown[];
      (role[0] === 'master' ? masters : replicas).push(node);
    }
    // A replica that never synced is too stale to take over (cluster-replica-validity-factor).
    for (const replica of replicas) {
      await waitFor(
        'a replica in sync',
        async () =>
          /master_link_status:up/.test(String(await ask(replica.port, 'INFO', 'replication'))),
        20_000,
      );
    }
    return {
      topology,
      masters,
      replicas,
      seeds: masters.map((m) => `127.0.0.1:${m.port}`).join(','),
    };
  } catch (err) {
    await topology.stop();
    throw err;
  }
}

/** Every running master says cluster_state:ok. */
export async function clusterOk(masters: RedisNode[], timeoutMs: number): Promise<void> {
  await waitFor(
    'cluster_state:ok on every node',
    async () => {
      for (const m of masters) {
        if (!m.running) continue;
        const info = String(await ask(m.port, 'CLUSTER', 'INFO'));
        if (!info.includes('cluster_state:ok')) return false;
      }
      return true;
    },
    timeoutMs,
  );
}

/**
 * One primary, one replica and three sentinels watching them as `mymaster`
 * (quorum 2, down-after-milliseconds 1000): a SIGKILL of the primary is
 * followed by the replica's promotion within a few seconds.
 */
export async function startSentinels(): Promise<{
  topology: Topology;
  primary: RedisNode;
  replica: RedisNode;
  sentinels: string;
}> {
  const topology = new Topology();
  try {
    // No 5 s wait before the first full sync (diskless replication's default delay).
    const sync = ['repl-diskless-sync-delay 0'];
    const primary = await topology.node(sync);
    const replica = await topology.node([...sync, `replicaof 127.0.0.1 ${primary.port}`]);
    await waitFor(
      'the replica in sync',
      async () =>
        /master_link_status:up/.test(String(await ask(replica.port, 'INFO', 'replication'))),
      10_000,
    );
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const node = await topology.node(
        [
          `sentinel monitor mymaster 127.0.0.1 ${primary.port} 2`,
          'sentinel down-after-milliseconds mymaster 1000',
          'sentinel failover-timeout mymaster 5000',
          'sentinel parallel-syncs mymaster 1',
        ],
        { sentinel: true },
      );
      ports.push(node.port);
    }
    // Each sentinel knows the replica and the others before the test kills anything.
    await waitFor(
      'sentinels aware of the replica and of each other',
      async () => {
        for (const port of ports) {
          const info = String(await ask(port, 'INFO', 'sentinel'));
          if (!/slaves=1,sentinels=3/.test(info)) return false;
        }
        return true;
      },
      15_000,
    );
    return {
      topology,
      primary,
      replica,
      sentinels: ports.map((p) => `127.0.0.1:${p}`).join(','),
    };
  } catch (err) {
    await topology.stop();
    throw err;
  }
}

/**
 * A private CA and a server certificate for `name` only (not the address
 * dialled, so the client must be told the name: REDIS_TLS_SERVERNAME), made
 * with openssl in the topology's dir.
 */
export function makeCertificates(
  topology: Topology,
  name: string,
): { ca: string; cert: string; key: string } {
  const at = (f: string): string => join(topology.dir, f);
  const run = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    '-new',
    ...ec,
    '-keyout',
    at('ca.key'),
    '-out',
    at('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=relay-test-ca',
  );
  run(
    'req',
    '-new',
    ...ec,
    '-keyout',
    at('server.key'),
    '-out',
    at('server.csr'),
    '-subj',
    `/CN=${name}`,
  );
  writeFileSync(at('san.ext'), `subjectAltName=DNS:${name}\n`);
  run(
    'x509',
    '-req',
    '-in',
    at('server.csr'),
    '-CA',
    at('ca.crt'),
    '-CAkey',
    at('ca.key'),
    '-CAcreateserial',
    '-out',
    at('server.crt'),
    '-days',
    '1',
    '-extfile',
    at('san.ext'),
  );
  return { ca: at('ca.crt'), cert: at('server.crt'), key: at('server.key') };
}

export const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
