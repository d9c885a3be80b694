/**
 * What the protocol core needs from one kind of WebSocket (ws on node:http,
 * Bun's native ServerWebSocket), as one object per transport shared by all
 * its sockets: the core keeps the runtime's own socket and calls these with
 * it, so a connection costs no wrapper object of its own.
 */
export interface SocketKind<S = never> {
  /** Frames can be sent; false from the moment a close starts. */
  isOpen(socket: S): boolean;
  /** Sends a text frame (a Buffer holds its UTF-8 bytes). */
  send(socket: S, frame: string | Buffer): void;
  /**
   * Bytes accepted by send() and not yet written, for the core's slow-reader
   * cap; 0 where the runtime enforces that cap itself (Bun's backpressure limit).
   */
  bufferedAmount(socket: S): number;
  close(socket: S, code: number, reason: string): void;
  /** Drops the connection at once, without a closing handshake. */
  terminate(socket: S): void;
  ping(socket: S): void;
  /** Stops reading it (TCP backpressure); false if this transport cannot. */
  pause(socket: S): boolean;
  resume(socket: S): void;
}

/** What a transport reports about one socket, to the core. */
export interface SocketEvents {
  /** A text frame as its raw bytes, or a binary frame already decoded to text. */
  frame(data: Buffer | string): void;
  pong(): void;
  /** Once, when the socket is gone (closed or terminated, either side). */
  gone(): void;
}
