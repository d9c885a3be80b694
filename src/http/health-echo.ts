import { CLIENT_ECHO_HEADER } from '../net/client-echo.js';
import type { Reply } from './reply.js';
import type { RouteContext } from './routes.js';

/**
 * How one runtime reads its requests: one object per transport, shared by
 * every request (as core/socket.ts's SocketKind is for sockets), so asking
 * costs no object per request. `via` is what else the runtime hands with a
 * request (Bun: its server, which knows the peer's address).
 */
export interface RequestReader<R, V = undefined> {
  /** One header as a string (repeated X-Forwarded-For joined with ", "). */
  header(req: R, name: string): string | undefined;
  /** The address of the connection's peer; may cost a system call, so asked last. */
  peerAddress(req: R, via: V): string | undefined;
}

/**
 * /health with the x-relay-client echo (net/client-echo.ts) when the request
 * asks for it: `pairing-relay check` does, probes do not, and pay nothing.
 */
export function withHealthEcho<R, V>(
  ctx: RouteContext,
  answer: Reply,
  reader: RequestReader<R, V>,
  req: R,
  via: V,
): Reply {
  if (answer.status !== 200 || reader.header(req, CLIENT_ECHO_HEADER) === undefined) return answer;
  const echo = ctx.clientEcho(reader.peerAddress(req, via), reader.header(req, 'x-forwarded-for'));
  return { ...answer, headers: { ...answer.headers, [CLIENT_ECHO_HEADER]: echo } };
}
