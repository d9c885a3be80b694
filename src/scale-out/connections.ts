import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisTlsOn, type ResolvedOptions } from '../config/options.js';

/** One Redis client, single node, Sentinel-managed or Cluster: the calls the relay makes exist on all. */
export type Client = Redis | Cluster;

/** The chosen topology's two clients, and how its pub/sub is spelled. */
export interface Connections {
  topology: 'node' | 'sentinel' | 'cluster';
  command: Client;
  subscriber: Client;
  /** Sharded pub/sub (SSUBSCRIBE/SPUBLISH): Cluster mode, where classic pub/sub floods every node. */
  sharded: boolean;
}

/** Options for one node's client, reply shapes stated (ioredis 6's types need it said). */
export type NodeOptions = RedisOptions & { replyMapping: 'legacy' };
type ClusterNodeOptions = ClusterOptions['redisOptions'] & { replyMapping: 'legacy' };

type Settings = Pick<
  ResolvedOptions,
  | 'redisUrl'
  | 'redisClusterNodes'
  | 'redisSentinels'
  | 'redisSentinelMaster'
  | 'redisUsername'
  | 'redisPassword'
  | 'redisSentinelUsername'
  | 'redisSentinelPassword'
  | 'redisTls'
  | 'redisTlsCaFile'
  | 'redisTlsCertFile'
  | 'redisTlsKeyFile'
  | 'redisTlsServername'
  | 'redisTimeoutMs'
>;

function hostPort(entry: string): { host: string; port: number } {
  const at = entry.lastIndexOf(':');
  return {
    host: entry.slice(0, at).replace(/^\[(.*)\]$/, '$1'),
    port: Number(entry.slice(at + 1)),
  };
}

const list = (text: string): string[] =>
  text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');

/** TLS options from the REDIS_TLS_* files; undefined when TLS is not asked for. */
function tlsOptions(s: Settings): ConnectionOptions | undefined {
  if (!redisTlsOn(s)) return undefined;
  const tls: ConnectionOptions = {};
  if (s.redisTlsCaFile !== '') tls.ca = readFileSync(s.redisTlsCaFile);
  if (s.redisTlsCertFile !== '') tls.cert = readFileSync(s.redisTlsCertFile);
  if (s.redisTlsKeyFile !== '') tls.key = readFileSync(s.redisTlsKeyFile);
  if (s.redisTlsServername !== '') tls.servername = s.redisTlsServername;
  return tls;
}

// How soon a Cluster client sees that a hung master's replica took over
// (see openConnections); the sharded subscribers follow the new slot map.
const SLOTS_REFRESH_MS = 2_000;

/**
 * After a failover the old primary's connection may still answer, read-only:
 * reconnect (Sentinel then names the new primary) and resend the command.
 */
const followReadonly = (err: Error): 2 | false => (err.message.startsWith('READONLY') ? 2 : false);

/**
 * The relay's two connections to Redis as configured: one for commands and
 * publishing (one connection keeps one instance's messages in order), one
 * for its channel. Both lazy: membership.ts connects them.
 */
export function openConnections(s: Settings, base: NodeOptions): Connections {
  const auth: NodeOptions = { ...base, reconnectOnError: followReadonly };
  if (s.redisUsername !== '') auth.username = s.redisUsername;
  if (s.redisPassword !== '') auth.password = s.redisPassword;
  const subscriberExtra = {
    enableOfflineQueue: true,
    commandTimeout: undefined,
    // ioredis resubscribes only channels it saw confirmed; membership.ts
    // subscribes on every connect instead, whatever happened before.
    autoResubscribe: false,
  } satisfies RedisOptions;

  if (s.redisClusterNodes !== '') {
    const seeds = list(s.redisClusterNodes);
    const tls = tlsOptions(s);
    // The cluster retries and queues for its nodes: those two are its own options.
    const { retryStrategy: _retry, enableOfflineQueue: _queue, ...perNode } = auth;
    const redisOptions: NonNullable<ClusterNodeOptions> = { ...perNode };
    if (tls !== undefined) redisOptions.tls = tls;
    const nodes = seeds.map((e) => (e.includes('://') ? e : hostPort(e)));
    const cluster = (subscriber: boolean): Cluster => {
      const options: ClusterOptions & { redisOptions: ClusterNodeOptions } = {
        lazyConnect: true,
        enableOfflineQueue: subscriber,
        redisOptions: subscriber
          ? { ...redisOptions, commandTimeout: undefined, autoResubscribe: false }
          : redisOptions,
        // Back within a second of the cluster answering again, however long it was away.
        clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
        slotsRefreshTimeout: Math.max(s.redisTimeoutMs, 1000),
        // A cluster that is down answers CLUSTERDOWN: fail within about the
        // timeout, as a single node would, rather than retry for seconds.
        maxRedirections: 3,
        retryDelayOnClusterDown: 50,
        retryDelayOnFailover: 100,
        retryDelayOnTryAgain: 100,
        // A master that hangs (or is cut off) sends no MOVED and closes
        // nothing: only a fresh slot map shows its replica took over. One
        // CLUSTER SLOTS per interval and client; a failover itself takes at
        // least cluster-node-timeout (15 s by default).
        slotsRefreshInterval: SLOTS_REFRESH_MS,
        shardedSubscribers: subscriber,
      };
      // TLS endpoints announce names their certificates carry (ElastiCache):
      // connect by those names, not by the addresses they resolve to.
      if (tls !== undefined) options.dnsLookup = (address, callback) => callback(null, address);
      return new Cluster(nodes, options);
    };
    return {
      topology: 'cluster',
      command: cluster(false),
      subscriber: cluster(true),
      sharded: true,
    };
  }

  if (s.redisSentinels !== '') {
    const tls = tlsOptions(s);
    const options: NodeOptions = {
      ...auth,
      sentinels: list(s.redisSentinels).map(hostPort),
      name: s.redisSentinelMaster,
      role: 'master',
      sentinelRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
      // A primary that hangs (or is cut off) never closes its connection nor
      // answers READONLY: the sentinels' +switch-master is the one sign of a
      // failover, so listen for it and reconnect to the primary they name.
      failoverDetector: true,
    };
    if (s.redisSentinelUsername !== '') options.sentinelUsername = s.redisSentinelUsername;
    if (s.redisSentinelPassword !== '') options.sentinelPassword = s.redisSentinelPassword;
    if (tls !== undefined) {
      options.tls = tls;
      options.sentinelTLS = tls;
      options.enableTLSForSentinelMode = true;
    }
    return {
      topology: 'sentinel',
      command: new Redis(options),
      subscriber: new Redis({ ...options, ...subscriberExtra }),
      sharded: false,
    };
  }

  const options: NodeOptions = { ...auth };
  const tls = tlsOptions(s);
  if (tls !== undefined) options.tls = tls;
  return {
    topology: 'node',
    command: new Redis(s.redisUrl, options),
    subscriber: new Redis(s.redisUrl, { ...options, ...subscriberExtra }),
    sharded: false,
  };
}
