import type { WebSocket } from 'ws';
import type { Socket, SocketEvents } from './socket.js';

const OPEN = 1;
// Frames always go out as text, including raw text frames relayed as bytes.
const AS_TEXT = { binary: false } as const;
const EVENTS = Symbol('pairing-relay.events');

type Bound = WebSocket & { [EVENTS]: SocketEvents };

/** A `ws` WebSocket behind the core's Socket interface. */
class WsSocket implements Socket {
  constructor(private readonly ws: WebSocket) {}

  get isOpen(): boolean {
    return this.ws.readyState === OPEN;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(frame: string | Buffer): void {
    this.ws.send(frame, AS_TEXT);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  ping(): void {
    this.ws.ping();
  }

  pause(): boolean {
    this.ws.pause();
    return true;
  }

  resume(): void {
    if (this.ws.isPaused) this.ws.resume();
  }
}

// Listeners shared by every socket (EventEmitter calls them with `this` set to
// the socket), so a connection costs no closures of its own.
function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  (this as Bound)[EVENTS].frame(isBinary ? data.toString() : data);
}
function onPong(this: WebSocket): void {
  (this as Bound)[EVENTS].pong();
}
function onClose(this: WebSocket): void {
  (this as Bound)[EVENTS].gone();
}

export function wsSocket(ws: WebSocket): Socket {
  return new WsSocket(ws);
}

/** Routes a ws socket's events to the core. */
export function bindWs(ws: WebSocket, events: SocketEvents, onError: (err: Error) => void): void {
  (ws as Bound)[EVENTS] = events;
  ws.on('message', onMessage);
  ws.on('pong', onPong);
  // ws reports protocol violations (oversized frame: 1009, bad UTF-8: 1007)
  // as 'error' and closes the socket itself; without a listener it would throw.
  ws.on('error', onError);
  ws.on('close', onClose);
}
