import { createHmac } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import { linkId } from './link-id.js';

/**
 * The Redis connections of one relay instance: one for commands and
 * publishing (Redis keeps one connection's messages in order), one for its
 * own channel. Keys and channels carry an HMAC, never a plain code or jti:
 * a plain hash of a 6-digit code is reversed in milliseconds. Opening,
 * subscribing and closing them is the cluster's job (membership.ts).
 */
export interface SharedStore {
  readonly command: Redis;
  readonly subscriber: Redis;
  readonly instanceId: string;
  /** What every key and channel starts with (`--redis-prefix`). */
  readonly prefix: string;
  /** `pr:<kind>:<HMAC(value)>` */
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
  url: string,
  secret: string,
  prefix: string,
  timeoutMs: number,
  log: Logger,
): SharedStore {
  const options: RedisOptions & { replyMapping: 'legacy' } = {
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
  const command = new Redis(url, options);
  const subscriber = new Redis(url, {
    ...options,
    enableOfflineQueue: true,
    commandTimeout: undefined,
    // ioredis resubscribes only channels it saw confirmed; membership.ts
    // subscribes on every connect instead, whatever happened before.
    autoResubscribe: false,
  });
  const instanceId = linkId();
  let reported: string | undefined;
  for (const client of [command, subscriber]) {
    // Say so once per state change, not once per retry.
    client.on('error', (err: Error) => {
      if (reported === err.message) return;
      reported = err.message;
      log.warn({ err: err.message }, 'redis unreachable');
    });
    client.on('ready', () => {
      if (reported !== undefined) log.info('redis reachable again');
      reported = undefined;
    });
  }
  return {
    command,
    subscriber,
    instanceId,
    prefix,
    key(kind, value) {
      return `${prefix}${kind}:${createHmac('sha256', secret).update(value).digest('base64url')}`;
    },
    channel(id) {
      return `${prefix}instance:${id}`;
    },
    presenceKey(id) {
      return `${prefix}alive:${id}`;
    },
    fingerprint: createHmac('sha256', secret).update(FINGERPRINT_LABEL).digest('base64url'),
    fingerprintsKey() {
      return `${prefix}secrets`;
    },
  };
}
