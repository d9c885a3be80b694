import type { Logger } from '../observe/logger.js';
import type { TrustFn } from '../config/trust-proxy.js';
import type { ResolvedOptions } from '../config/options.js';
import type { Metrics } from '../observe/metrics.js';
import type { Relay } from '../core/relay.js';
import type { RouteContext } from '../http/routes.js';
import type { SocketKind } from '../core/socket.js';

/** Everything a server transport needs from the relay it serves. */
export interface TransportContext {
  relay: Relay;
  opts: ResolvedOptions;
  trust: TrustFn;
  log: Logger;
  routes: RouteContext;
  metrics: Metrics | undefined;
}

export interface Bound {
  /** The address actually bound. */
  host: string;
  port: number;
  /** Where /metrics is served when it has a port of its own. */
  metricsPort?: number;
}

/** A WebSocket server for the relay on one runtime: node:http + ws, or Bun.serve. */
export interface Transport {
  /** Bun: the handlers to mount in a caller's Bun.serve (`mount` option). */
  readonly mount?: { fetch: unknown; websocket: unknown };
  /** Listens (or, attached to a caller's server, waits for it to). */
  listen(): Promise<Bound>;
  /** After the core has closed its sockets: stops listening, drops what is left. */
  close(): Promise<void>;
}

/** A transport before it is made: its kind of socket (the relay is built with it), then the server. */
export interface TransportFactory {
  readonly sockets: SocketKind<unknown>;
  create(ctx: TransportContext): Transport | Promise<Transport>;
}
