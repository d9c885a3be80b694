import type { Logger } from '../observe/logger.js';
import type { Cluster, ClusterFactory } from '../core/cluster-seam.js';
import { redisBus } from './bus.js';
import { Claims } from './claims.js';
import { Membership } from './membership.js';
import { RemoteBootstrap } from './remote-bootstrap.js';
import { RemoteSessions } from './remote-sessions.js';
import type { SharedStore } from './shared-store.js';
import { parseWire } from './wire.js';

export interface RedisClusterOptions {
  sessionTtlMs: number;
  pairedTtlMs: number;
  watchTtlMs: number;
  timeoutMs: number;
  peerTimeoutMs: number;
}

/**
 * Scale-out on Redis, as a plug-in of the core: sessions and bootstrap
 * across instances, and this instance's membership (connections, channel,
 * presence, health), from start() to close().
 */
export function redisCluster(
  store: SharedStore,
  opts: RedisClusterOptions,
  log: Logger,
): ClusterFactory {
  return (host): Cluster => {
    const bus = redisBus(store);
    const claims = new Claims(store);
    const sessions = new RemoteSessions(store, claims, bus, host.sessions, opts);
    const bootstrap = new RemoteBootstrap(store, claims, bus, host.bootstrap, opts.watchTtlMs);
    const onMessage = (text: string): void => {
      const msg = parseWire(text);
      if (msg === undefined) return log.debug('malformed message from another instance dropped');
      switch (msg.t) {
        case 'join':
        case 'found':
        case 'fail':
        case 'data':
        case 'end':
          return sessions.receive(msg);
        case 'binit':
        case 'banswer':
        case 'bgone':
          return bootstrap.receive(msg);
        case 'ping':
          return membership.pinged(msg.n);
      }
    };
    const membership = new Membership(store, bus, [sessions, bootstrap], opts, log, onMessage);
    return {
      rendezvous: sessions,
      bootstrap,
      // Do not take traffic a moment before Redis is there, if it comes soon.
      start: () => membership.start(5 * opts.timeoutMs),
      status: () => membership.status(),
      async close() {
        sessions.close();
        bootstrap.close();
        await membership.close();
      },
    };
  };
}
