/**
 * The slice of Bun's API this relay uses (Bun.serve and its WebSockets),
 * declared here so the package needs no Bun type package to build on Node.
 */
export interface BunServerWebSocket<T> {
  /** Set at upgrade; writable (the relay swaps the key for its client at open). */
  data: T;
  readonly readyState: number;
  /** Bytes sent; -1 when queued behind backpressure; 0 when dropped. */
  send(data: string | Uint8Array, compress?: boolean): number;
  /** Always a text frame. */
  sendText(data: string, compress?: boolean): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(data?: string | Uint8Array): number;
  getBufferedAmount(): number;
}

export interface BunWebSocketHandler<T> {
  open?(ws: BunServerWebSocket<T>): void;
  message(ws: BunServerWebSocket<T>, message: string | Uint8Array): void;
  close?(ws: BunServerWebSocket<T>, code: number, reason: string): void;
  pong?(ws: BunServerWebSocket<T>, data: Uint8Array): void;
  maxPayloadLength?: number;
  backpressureLimit?: number;
  closeOnBackpressureLimit?: boolean;
  /** Seconds without a message before Bun closes the socket; 0 turns it off. */
  idleTimeout?: number;
  sendPings?: boolean;
  perMessageDeflate?: boolean;
}

export interface BunServer {
  readonly port: number;
  readonly hostname: string;
  upgrade<T>(req: Request, options: { data: T; headers?: Record<string, string> }): boolean;
  requestIP(req: Request): { address: string; family: string; port: number } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

export type BunHandler = (
  req: Request,
  server: BunServer,
) => Response | undefined | Promise<Response | undefined>;

export interface BunServeOptions<T> {
  port: number;
  hostname: string;
  /** Seconds an idle HTTP connection (or one still sending its request) is kept. */
  idleTimeout?: number;
  fetch(req: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
  /** Paths Bun matches natively, by method; anything else goes to fetch. */
  routes?: Record<string, Partial<Record<'GET' | 'HEAD', BunHandler>>>;
  websocket?: BunWebSocketHandler<T>;
  error?(err: Error): Response;
}

export interface BunGlobal {
  serve<T>(options: BunServeOptions<T>): BunServer;
}
