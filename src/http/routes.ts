import { tokenOf, type AccessGate } from '../admission/access-gate.js';
import type { AccessRequest } from '../config/options.js';
import type { Logger } from '../observe/logger.js';
import type { Relay } from '../core/relay.js';

export const WS_PATH = '/ws';

/** A plain HTTP answer, whatever server writes it. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  /** JSON text; left out for HEAD by the writer. */
  body: string;
}

export interface RouteContext {
  relay: Relay;
  version: string;
  readyDuringStoreOutage: boolean;
  /** /metrics is served on this port. */
  metricsHere: boolean;
  /** The access-token gate; undefined for an open relay. */
  access: AccessGate | undefined;
  /** The x-relay-client value for a request on /health (see client-echo.ts). */
  clientEcho(remoteAddress: string | undefined, forwardedFor: string | undefined): string;
}

/** The headers of every JSON reply without extras: a transport may prebuild them once. */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'cache-control': 'no-store',
};

export function reply(status: number, body: unknown, extra?: Record<string, string>): Reply {
  const headers = extra === undefined ? JSON_HEADERS : { ...JSON_HEADERS, ...extra };
  return { status, headers, body: JSON.stringify(body) };
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
        sessions: ctx.relay.registry.size,
        connections: ctx.relay.clients.size,
        version: ctx.version,
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
  const body = { redis: cluster.store, instance: cluster.membership };
  if (cluster.store !== 'ok') {
    return reply(duringStoreOutage ? 200 : 503, { status: 'degraded', ...body });
  }
  if (cluster.membership !== 'ok') return reply(503, { status: 'degraded', ...body });
  return reply(200, { status: 'ready', ...body });
}

/** A refused upgrade: why, as an HTTP status and error word. */
export interface Refusal {
  status: number;
  error: string;
  headers?: Record<string, string>;
}

/** What the gate needs of an upgrade request, whatever server received it. */
export interface UpgradeRequest extends AccessRequest {
  /** The request target as received (path and query; Bun: the whole URL). */
  url: string;
}

/**
 * The upgrade gate, shared by every transport: draining, the access token
 * and the socket caps are decided here, before any WebSocket is made, so a
 * refused client costs almost nothing. Synchronous for an open relay; with
 * a token gate it waits on the address's failure budget.
 */
export function admitUpgrade(
  ctx: RouteContext,
  request: UpgradeRequest,
  log: Logger,
): Refusal | undefined | Promise<Refusal | undefined> {
  const { relay } = ctx;
  const refusal = draining(relay);
  if (refusal !== undefined) return refusal;
  relay.warnings.upgrade(request.header('x-forwarded-for') !== undefined);
  if (ctx.access === undefined) return admitSocket(relay, request.clientKey, log);
  return checkToken(ctx.access, relay, request, log);
}

function draining(relay: Relay): Refusal | undefined {
  if (!relay.draining) return undefined;
  relay.events.rejected('upgrade_draining');
  return { status: 503, error: 'going_away' };
}

const UNAUTHORIZED: Refusal = {
  status: 401,
  error: 'unauthorized',
  headers: { 'www-authenticate': 'Bearer' },
};

/**
 * A wrong token spends the address's failure budget, the one code guesses
 * spend, so the gate cannot be brute-forced either; an address over budget
 * is refused (429) before its token is even looked at. A missing token is
 * not a guess and spends nothing. Neither the token nor the URL (its query
 * may hold the token) is ever logged.
 */
async function checkToken(
  gate: AccessGate,
  relay: Relay,
  request: UpgradeRequest,
  log: Logger,
): Promise<Refusal | undefined> {
  const key = request.clientKey;
  const budget = relay.addressBudget;
  const token = tokenOf(request.header('authorization'), request.url);
  const allowed = await gate.allows(token, request);
  if (allowed) {
    // A right token costs nothing, but an address whose failures are spent
    // gets no answer but 429: no more guesses, right or wrong, this window.
    // Not begin(): attempts in flight count there, and behind Redis a burst
    // of right tokens from one NAT would refuse itself.
    if (await budget.spent(key).catch(() => false)) return rateLimited(relay, key, log);
  } else if (token !== undefined) {
    // A wrong token is a guess: begin() counts guesses still running, as for
    // codes, so 64 sent at the same instant from one address still get only
    // the budget; then it is spent.
    if (!(await budget.begin(key))) return rateLimited(relay, key, log);
    await budget.end(key, true);
  }
  // Time passed: the relay may have begun to drain meanwhile.
  if (allowed) return draining(relay) ?? admitSocket(relay, key, log);
  relay.events.rejected('upgrade_unauthorized');
  log.debug({ carried: token !== undefined }, 'upgrade refused: no valid access token');
  return UNAUTHORIZED;
}

function rateLimited(relay: Relay, key: string, log: Logger): Refusal {
  relay.events.rejected('upgrade_rate_limited');
  log.warn({ client: key }, 'rate limited: upgrade refused');
  return { status: 429, error: 'rate_limited' };
}

function admitSocket(relay: Relay, key: string, log: Logger): Refusal | undefined {
  const admission = relay.admit(key);
  if (admission === 'sockets_full') {
    log.warn({ sockets: relay.clients.size }, 'socket cap reached: upgrade refused');
    return { status: 503, error: 'relay_capacity' };
  }
  if (admission === 'address_full') {
    log.warn({ client: key }, 'per-address socket cap reached: upgrade refused');
    return { status: 429, error: 'too_many_connections' };
  }
  return undefined;
}
