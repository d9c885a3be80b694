import { judgeToken, tokenListGate, tokenOf, type AccessGate } from '../admission/access-gate.js';
import { pathOf, WS_PATH } from '../http/routes.js';
import { refusalReply, NOT_FOUND_REFUSAL, type Refusal } from '../http/upgrade-gate.js';
import { reply, type Reply } from '../http/reply.js';
import { addressKey } from '../net/client-address.js';
import { CLIENT_ECHO_HEADER, clientEcho } from '../net/client-echo.js';
import { compileTrust } from '../config/trust-proxy.js';
import { remoteBudget } from './budget-object.js';
import { EdgeClient, live } from './edge-client.js';
import { edgeOptions, type EdgeEnv } from './env.js';
import { usage } from './usage.js';
import { socketPair, upgraded, type ExecutionContext } from './workers-api.js';

const gates = new WeakMap<object, AccessGate | null>();

function gateOf(env: EdgeEnv): AccessGate | null {
  let gate = gates.get(env);
  if (gate === undefined) {
    const opts = edgeOptions(env);
    // Tokens come from the RELAY_ACCESS_TOKENS secret; there is no file at the edge.
    const tokens = typeof opts.accessTokens === 'function' ? [] : opts.accessTokens;
    gate = tokens.length === 0 ? null : tokenListGate(tokens);
    gates.set(env, gate);
  }
  return gate;
}

const NO_PROXY = compileTrust('');

/**
 * /health's x-relay-client echo (net/client-echo.ts), asked for by
 * `pairing-relay check`: CF-Connecting-IP stands for the connection itself,
 * and X-Forwarded-For is never believed at the edge.
 */
function withEcho(request: Request, r: Reply): Reply {
  if (request.headers.get(CLIENT_ECHO_HEADER) === null) return r;
  const echo = clientEcho(
    request.headers.get('cf-connecting-ip') ?? undefined,
    request.headers.get('x-forwarded-for') ?? undefined,
    NO_PROXY,
  );
  return { ...r, headers: { ...r.headers, [CLIENT_ECHO_HEADER]: echo } };
}

function answer(r: Reply, method: string): Response {
  return new Response(method === 'HEAD' ? null : r.body, { status: r.status, headers: r.headers });
}

/**
 * The client address: CF-Connecting-IP, which Cloudflare sets on every
 * request and a client cannot (npm run edge overwrites it likewise), IPv6
 * keyed by its /64 as on the server.
 */
function clientKeyOf(request: Request): string {
  return addressKey(request.headers.get('cf-connecting-ip') ?? undefined) ?? 'unknown';
}

/** The access token, with the server's rules (admission/access-gate.ts, judgeToken). */
async function checkToken(
  gate: AccessGate,
  env: EdgeEnv,
  request: Request,
  key: string,
): Promise<Refusal | undefined> {
  const token = tokenOf(request.headers.get('authorization') ?? undefined, request.url);
  const verdict = await judgeToken(gate, remoteBudget(env.BUDGETS, 'failures'), token, {
    clientKey: key,
    header: (name) => request.headers.get(name) ?? undefined,
  });
  if (verdict === 'admitted') return undefined;
  if (verdict === 'rate_limited') return { status: 429, error: 'rate_limited' };
  return { status: 401, error: 'unauthorized', headers: { 'www-authenticate': 'Bearer' } };
}

/** The Worker's fetch handler; `version` is what /health reports. */
export function createWorker(version: string): {
  fetch(request: Request, env: EdgeEnv, ctx: ExecutionContext): Promise<Response>;
} {
  return { fetch: (request, env) => handle(request, env, version) };
}

async function handle(request: Request, env: EdgeEnv, version: string): Promise<Response> {
  const method = request.method;
  const path = pathOf(new URL(request.url).pathname);
  const upgrade = request.headers.get('upgrade')?.toLowerCase() === 'websocket';
  if (path === '/usage' && env['RELAY_EDGE_USAGE'] === '1') {
    return answer(reply(200, usage), method);
  }
  // /health and /ready are plain HTTP: an upgrade there is refused, as anywhere but /ws.
  if (upgrade && path !== WS_PATH) return answer(refusalReply(NOT_FOUND_REFUSAL), method);
  if (path !== '/health' && path !== '/ready' && path !== WS_PATH) {
    return answer(
      upgrade ? refusalReply(NOT_FOUND_REFUSAL) : reply(404, { error: 'not_found' }),
      method,
    );
  }
  if (method !== 'GET' && method !== 'HEAD') {
    return answer(reply(405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' }), method);
  }
  if (path === '/health') {
    return answer(
      withEcho(
        request,
        reply(200, {
          status: 'ok',
          sessions: live.sessions,
          connections: live.sockets,
          version,
          runtime: 'workerd',
        }),
      ),
      method,
    );
  }
  if (path === '/ready') return answer(reply(200, { status: 'ready' }), method);
  if (!upgrade)
    return answer(reply(426, { error: 'upgrade_required' }, { upgrade: 'websocket' }), method);

  const opts = edgeOptions(env);
  const key = clientKeyOf(request);
  const gate = gateOf(env);
  if (gate !== null) {
    const refusal = await checkToken(gate, env, request, key);
    if (refusal !== undefined) return answer(refusalReply(refusal), method);
  }
  const [client, server] = socketPair();
  server.accept();
  new EdgeClient(server, key, env, opts);
  return upgraded(client);
}
