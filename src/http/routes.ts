import type { AccessGate } from '../admission/access-gate.js';
import type { Relay } from '../core/relay.js';
import { reply, type Reply } from './reply.js';

export const WS_PATH = '/ws';

export interface RouteContext {
  relay: Relay;
  version: string;
  /** "node 20.20.2", "bun 1.4.5": which runtime serves. */
  runtime: string;
  readyDuringStoreOutage: boolean;
  /** /metrics is served on this port. */
  metricsHere: boolean;
  /** The access-token gate; undefined for an open relay. */
  access: AccessGate | undefined;
  /** The x-relay-client value for a request on /health (see client-echo.ts). */
  clientEcho(remoteAddress: string | undefined, forwardedFor: string | undefined): string;
}

export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * /health, /ready, and 404/405/426 for everything else: cheap, no I/O.
 * 'websocket' and 'metrics' are left to the transport.
 */
export function route(
  ctx: RouteContext,
  method: string,
  path: string,
  upgrade: false,
): Reply | 'metrics';
export function route(
  ctx: RouteContext,
  method: string,
  path: string,
  upgrade: boolean,
): Reply | 'websocket' | 'metrics';
export function route(
  ctx: RouteContext,
  method: string,
  path: string,
  upgrade: boolean,
): Reply | 'websocket' | 'metrics' {
  if (path === '/metrics' && ctx.metricsHere) return 'metrics';
  if (path !== '/health' && path !== '/ready' && path !== WS_PATH) {
    return reply(404, { error: 'not_found' });
  }
  if (method !== 'GET' && method !== 'HEAD') {
    return reply(405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
  }
  switch (path) {
    case '/health':
      return reply(200, {
        status: 'ok',
        sessions: ctx.relay.sessionStore.size,
        connections: ctx.relay.clients.size,
        version: ctx.version,
        runtime: ctx.runtime,
      });
    case '/ready':
      return ready(ctx.relay, ctx.readyDuringStoreOutage);
    default:
      return upgrade
        ? 'websocket'
        : reply(426, { error: 'upgrade_required' }, { upgrade: 'websocket' });
  }
}

/**
 * Never says all is well when it is not. This instance's own trouble (its
 * channel unconfirmed, claims not yet written back) is 503: other replicas
 * can serve. Redis slow or gone is every replica's trouble alike, so whether
 * that is 503 is the operator's choice (docs/deploy.md); the body says it.
 */
function ready(relay: Relay, duringStoreOutage: boolean): Reply {
  if (relay.draining) return reply(503, { status: 'draining' });
  const cluster = relay.clusterStatus;
  if (cluster === undefined) return reply(200, { status: 'ready' });
  const body = {
    redis: cluster.store,
    instance: cluster.membership,
    cluster: cluster.secret,
  };
  if (cluster.store !== 'ok') {
    return reply(duringStoreOutage ? 200 : 503, { status: 'degraded', ...body });
  }
  if (cluster.membership !== 'ok') return reply(503, { status: 'degraded', ...body });
  // Both sides of a mismatch see it, and neither knows which secret is wrong:
  // a 503 would empty the load balancer of every replica. 200, said in the
  // body, an error log and a metric; same-instance pairing still works.
  if (cluster.secret !== 'ok') return reply(200, { status: 'degraded', ...body });
  return reply(200, { status: 'ready', ...body });
}
