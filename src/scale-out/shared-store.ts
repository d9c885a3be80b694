import { createHmac } from 'node:crypto';
import { openConnections, type Client, type Connections, type NodeOptions } from './connections.js';
import type { Logger } from '../observe/logger.js';
import { ThrottledLog } from '../observe/throttled-log.js';
import { linkId } from './link-id.js';

/**
 * The Redis connections of one relay instance: one for commands and
 * publishing (Redis keeps one connection's messages in order), one for its
 * own channel. Keys and channels carry an HMAC, never a plain code or jti:
 * a plain hash of a 6-digit code is reversed in milliseconds. Opening,
 * subscribing and closing them is the cluster's job (membership.ts).
 */
export interface SharedStore {
  readonly command: Client;
  readonly subscriber: Client;
  readonly topology: Connections['topology'];
  /** PUBLISH, or SPUBLISH in Cluster mode; resolves with how many subscribers heard it. */
  publish(channel: string, text: string): Promise<number>;
  /** SUBSCRIBE, or SSUBSCRIBE in Cluster mode, on the subscriber connection. */
  subscribe(channel: string): Promise<unknown>;
  onMessage(listener: (text: string) => void): void;
  readonly instanceId: string;
  /** `--redis-timeout-ms`: no call may wait longer (see {@link SharedStore.bounded}). */
  readonly timeoutMs: number;
  /**
   * Rejects if `call` has not settled within the timeout. A client's own
   * command timeout covers one attempt on one connection; a cluster that is
   * down retries across nodes, and Bun's sockets fail differently: this is
   * the bound callers rely on.
   */
  bounded<T>(call: Promise<T>): Promise<T>;
  /** What every key and channel starts with (`--redis-prefix`). */
  readonly prefix: string;
  /** `pr:<kind>:{<HMAC(value)>}`: the braces are the Cluster hash tag. */
  key(kind: string, value: string): string;
  channel(instanceId: string): string;
  /** The key that says an instance is alive (refreshed on a timer, short TTL). */
  presenceKey(instanceId: string): string;
  /** This secret's fingerprint: an HMAC of a fixed label, comparable without the secret. */
  readonly fingerprint: string;
  /** The hash of every secret's fingerprint in use under this prefix (secret-check.ts). */
  fingerprintsKey(): string;
}

// Not a code or jti (they hold no '/'), so never the HMAC of a key.
const FINGERPRINT_LABEL = 'pairing-relay/secret-check/v1';

export function createSharedStore(
  settings: Parameters<typeof openConnections>[0],
  secret: string,
  prefix: string,
  log: Logger,
): SharedStore {
  const timeoutMs = settings.redisTimeoutMs;
  const options: NodeOptions = {
    lazyConnect: true,
    // RESP2 shapes for replies (ioredis 6's default, stated: its types need it said).
    replyMapping: 'legacy',
    // Fail fast while disconnected instead of queueing: callers fall back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 1000),
    // Back within a second of Redis returning, however long it was away.
    retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
  };
  const { command, subscriber, sharded, topology } = openConnections(settings, options);
  const instanceId = linkId();
  // Once per while (and the first at once), not once per retry.
  const unreachable = new ThrottledLog(log);
  let reported = false;
  for (const client of [command, subscriber]) {
    client.on('error', (err: Error) => {
      reported = true;
      unreachable.warn(undefined, { err: err.message }, 'redis unreachable');
    });
    client.on('ready', () => {
      if (reported) log.info('redis reachable again');
      reported = false;
      unreachable.clear();
    });
  }
  const tag = (value: string): string => `{${value}}`;
  return {
    command,
    subscriber,
    topology,
    instanceId,
    prefix,
    timeoutMs,
    bounded(call) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('redis: no answer in time')), timeoutMs);
      });
      return Promise.race([call, late]).finally(() => clearTimeout(timer));
    },
    publish: async (channel, text) =>
      Number(await (sharded ? command.spublish(channel, text) : command.publish(channel, text))),
    subscribe: (channel) =>
      sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel),
    onMessage(listener) {
      subscriber.on(sharded ? 'smessage' : 'message', (_channel: string, text: string) =>
        listener(text),
      );
    },
    key(kind, value) {
      // One hash tag per code or jti, whatever the kind: a pairing's keys share one slot.
      return `${prefix}${kind}:${tag(createHmac('sha256', secret).update(value).digest('base64url'))}`;
    },
    channel(id) {
      return `${prefix}instance:${tag(id)}`;
    },
    presenceKey(id) {
      return `${prefix}alive:${tag(id)}`;
    },
    fingerprint: createHmac('sha256', secret).update(FINGERPRINT_LABEL).digest('base64url'),
    fingerprintsKey() {
      return `${prefix}secrets`;
    },
  };
}
