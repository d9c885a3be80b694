/**
 * The few Workers runtime APIs the edge relay uses, typed here rather than
 * through @cloudflare/workers-types, whose globals (Request, Response,
 * WebSocket) would clash with Node's in this one TypeScript project. Each
 * matches https://developers.cloudflare.com/workers/runtime-apis/.
 */

/** A Workers WebSocket: either end of a WebSocketPair, or one a fetch returned. */
export interface EdgeSocket {
  readonly readyState: number;
  /** Since compatibility date 2026-03 binary frames arrive as Blob unless this says otherwise. */
  binaryType?: 'blob' | 'arraybuffer';
  accept(): void;
  send(message: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(
    type: 'message',
    listener: (event: { data: string | ArrayBuffer }) => void,
  ): void;
  addEventListener(
    type: 'close',
    listener: (event: { code: number; reason: string }) => void,
  ): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
  /** Per-socket state that survives hibernation (at most 2 KiB, structured clone). */
  serializeAttachment(value: unknown): void;
  deserializeAttachment(): unknown;
}

export const OPEN = 1;

export interface DurableObjectStorage {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<boolean>;
  setAlarm(scheduledTime: number): Promise<void>;
  deleteAlarm(): Promise<void>;
}

export interface DurableObjectState {
  readonly storage: DurableObjectStorage;
  /** The Hibernation API: the runtime holds the socket while the object sleeps. */
  acceptWebSocket(socket: EdgeSocket, tags?: string[]): void;
  getWebSockets(tag?: string): EdgeSocket[];
  waitUntil(promise: Promise<unknown>): void;
}

export interface DurableObjectStub {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

export interface DurableObjectNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): DurableObjectStub;
}

export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** The global WebSocketPair: [client, server]. */
export function socketPair(): [EdgeSocket, EdgeSocket] {
  const Pair = (globalThis as unknown as { WebSocketPair: new () => Record<0 | 1, EdgeSocket> })
    .WebSocketPair;
  const pair = new Pair();
  return [pair[0], pair[1]];
}

/** The 101 answer that hands `client` to whoever made the request. */
export function upgraded(client: EdgeSocket): Response {
  return new Response(null, { status: 101, webSocket: client } as ResponseInit);
}

/** The socket a `fetch` with `Upgrade: websocket` got back, if it was accepted. */
export function socketOf(response: Response): EdgeSocket | null {
  return (response as unknown as { webSocket: EdgeSocket | null }).webSocket ?? null;
}
