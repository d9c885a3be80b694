/**
 * What the protocol core needs from one WebSocket, whichever server runs it
 * (ws on node:http today). The core never touches a runtime's socket object.
 */
export interface Socket {
  /** Frames can be sent; false from the moment a close starts. */
  readonly isOpen: boolean;
  /** Bytes accepted by send() and not yet written: the slow-reader cap reads this. */
  readonly bufferedAmount: number;
  /** Sends a text frame (a Buffer holds its UTF-8 bytes). */
  send(frame: string | Buffer): void;
  close(code: number, reason: string): void;
  /** Drops the connection at once, without a closing handshake. */
  terminate(): void;
  ping(): void;
  /** Stops reading it (TCP backpressure); false if this transport cannot. */
  pause(): boolean;
  resume(): void;
}

/** What a transport reports about one socket, to the core. */
export interface SocketEvents {
  /** A text frame as its raw bytes, or a binary frame already decoded to text. */
  frame(data: Buffer | string): void;
  pong(): void;
  /** Once, when the socket is gone (closed or terminated, either side). */
  gone(): void;
}
