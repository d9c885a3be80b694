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

/**
 * What the gate needs of an upgrade request, whatever server received it,
 * and how that server answers it: with a refusal, or (undefined) by making
 * the WebSocket there and then.
 */
export interface UpgradeRequest<R> extends AccessRequest {
  /** The request target as received (path and query; Bun: the whole URL). */
  url: string;
  answer(refusal: Refusal | undefined): R;
}

/**
 * The upgrade gate, shared by every transport: draining, the access token
 * and the socket caps are decided here, before any WebSocket is made, so a
 * refused client costs almost nothing. Synchronous for an open relay; with
 * a token gate it waits on the address's failure budget, and returns a
 * promise of the answer.
 *
 * The caps are checked in the same synchronous step that answers: a cap
 * counts attached sockets, so a check made before an await would let every
 * upgrade whose token check ended in the same tick through on one count.
 */
export function admitUpgrade<R>(
  ctx: RouteContext,
  request: UpgradeRequest<R>,
  log: Logger,
): R | Promise<R> {
  const { relay } = ctx;
  const refusal = draining(relay);
  if (refusal !== undefined) return request.answer(refusal);
  relay.warnings.upgrade(request.header('x-forwarded-for') !== undefined);
  if (ctx.access === undefined) return request.answer(admitSocket(relay, request.clientKey));
  return checkToken(ctx.access, relay, request, log).then(
    (refused) =>
      request.answer(
        // Time passed: the relay may have begun to drain meanwhile.
        refused ?? draining(relay) ?? admitSocket(relay, request.clientKey),
      ),
    // A gate that throws (the library user's own check function) is a 503.
    (err: unknown) => {
      log.error({ err }, 'upgrade gate failed');
      return request.answer(GATE_FAILED);
    },
  );
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
 * answers them: a refusal, or undefined for a token that admits. Neither
 * the token nor the URL (its query may hold the token) is ever logged.
 */
async function checkToken(
  gate: AccessGate,
  relay: Relay,
  request: UpgradeRequest<unknown>,
  log: Logger,
): Promise<Refusal | undefined> {
  const key = request.clientKey;
  const token = tokenOf(request.header('authorization'), request.url);
  const verdict = await judgeToken(gate, relay.addressBudget, token, request);
  if (verdict === 'rate_limited') return rateLimited(relay, key);
  if (verdict === 'admitted') return undefined;
  relay.events.rejected('upgrade_unauthorized');
  log.debug({ carried: token !== undefined }, 'upgrade refused: no valid access token');
  return UNAUTHORIZED;
}

function rateLimited(relay: Relay, key: string): Refusal {
  relay.events.rejected('upgrade_rate_limited');
  relay.refusals.warn(key, {}, 'rate limited: upgrade refused');
  return { status: 429, error: 'rate_limited' };
}

function admitSocket(relay: Relay, key: string): Refusal | undefined {
  const admission = relay.admit(key);
  if (admission === 'sockets_full') {
    relay.refusals.warn(
      undefined,
      { sockets: relay.clients.size },
      'socket cap reached: upgrade refused',
    );
    return { status: 503, error: 'relay_capacity' };
  }
  if (admission === 'address_full') {
    relay.refusals.warn(key, {}, 'per-address socket cap reached: upgrade refused');
    return { status: 429, error: 'too_many_connections' };
  }
  return undefined;
}
