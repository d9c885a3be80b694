import { judgeToken, tokenOf, type AccessGate } from '../admission/access-gate.js';
import type { AccessRequest } from '../config/options.js';
import type { Relay } from '../core/relay.js';
import type { Logger } from '../observe/logger.js';
import { reply, type Reply } from './reply.js';
import type { RouteContext } from './routes.js';

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
  // Never rejects: a gate that throws (the library user's own check function) is a 503.
  return checkToken(ctx.access, relay, request, log).catch((err: unknown) => {
    log.error({ err }, 'upgrade gate failed');
    return GATE_FAILED;
  });
}

/**
 * A refused upgrade as the HTTP answer every transport writes: JSON, and the
 * connection closed after it (a client that asked to upgrade gets nothing more).
 */
export function refusalReply(refusal: Refusal): Reply {
  return reply(
    refusal.status,
    { error: refusal.error },
    { connection: 'close', ...refusal.headers },
  );
}

/** An upgrade on a path that is not the relay's. */
export const NOT_FOUND_REFUSAL: Refusal = { status: 404, error: 'not_found' };

const GATE_FAILED: Refusal = { status: 503, error: 'internal' };

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
 * The token rules (admission/access-gate.ts, judgeToken) as this server
 * answers them. Neither the token nor the URL (its query may hold the
 * token) is ever logged.
 */
async function checkToken(
  gate: AccessGate,
  relay: Relay,
  request: UpgradeRequest,
  log: Logger,
): Promise<Refusal | undefined> {
  const key = request.clientKey;
  const token = tokenOf(request.header('authorization'), request.url);
  const verdict = await judgeToken(gate, relay.addressBudget, token, request);
  if (verdict === 'rate_limited') return rateLimited(relay, key, log);
  // Time passed: the relay may have begun to drain meanwhile.
  if (verdict === 'admitted') return draining(relay) ?? admitSocket(relay, key, log);
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
