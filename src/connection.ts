import { errorFrame } from './errors.js';
import { DONE_FRAME, PEER_FOUND_FRAME } from './protocol/messages.js';
import type { EndReason, Member, Session } from './sessions.js';
import type { Socket, SocketEvents } from './transport/socket.js';

// A peer that does not answer our close frame is cut off after this, not after
// ws's own 30 s, so it stops holding a slot of the socket caps.
const CLOSE_ANSWER_MS = 2_000;

/** Where a client's socket events go: the relay. */
export interface ClientHost {
  onFrame(client: Client, frame: Buffer | string): void;
  onClose(client: Client): void;
}

/** What the relay knows about one WebSocket; it receives that socket's events itself. */
export class Client implements Member, SocketEvents {
  session: Session | null = null;
  /** jtis this socket watches as a bootstrap controller. */
  watches: Set<string> | null = null;
  /** The jti of the bootstrap_init this socket is waiting on an answer for. */
  pendingInitJti: string | null = null;
  /** Set by any inbound frame or pong; cleared by each heartbeat. */
  alive = true;
  closed = false;
  /** Reading stopped while the backlog is long. */
  paused = false;
  idleTimer: NodeJS.Timeout | null = null;
  /** Cuts off a socket that does not answer our close frame. */
  closeTimer: NodeJS.Timeout | null = null;
  /** Frames that arrived while an asynchronous step (a rate-limit call) ran; keeps order. */
  backlog: Array<Buffer | string> | null = null;

  constructor(
    readonly socket: Socket,
    /** The rate-limit key: client address, IPv6 by /64. */
    readonly key: string,
    private readonly maxBufferedBytes: number,
    private readonly host: ClientHost,
  ) {}

  frame(data: Buffer | string): void {
    this.host.onFrame(this, data);
  }

  pong(): void {
    this.alive = true;
  }

  gone(): void {
    this.host.onClose(this);
  }

  /** Sends a frame; a reader that lets its buffer grow past the cap is cut off. */
  send(frame: string | Buffer): void {
    const socket = this.socket;
    if (!socket.isOpen) return;
    socket.send(frame);
    if (socket.bufferedAmount > this.maxBufferedBytes) socket.terminate();
  }

  peerFound(): void {
    this.send(PEER_FOUND_FRAME);
  }

  /** What a socket hears when its session ends, for each reason. */
  ended(reason: EndReason, self: boolean): void {
    switch (reason) {
      case 'done':
        if (!self) this.send(DONE_FRAME);
        return;
      case 'peer_disconnected':
        if (!self) this.send(errorFrame('peer_disconnected'));
        return;
      case 'expired':
      case 'burned':
        this.send(errorFrame('otc_expired'));
        return this.close(1000, 'session expired');
      case 'data_limit':
        this.send(errorFrame('session_data_limit'));
        return this.close(1008, 'session data limit');
      case 'claim_lost':
        // Only an unpaired target: two listens must never both win a code.
        this.send(errorFrame('otc_in_use'));
        return this.close(1000, 'code claimed elsewhere');
      case 'shutdown':
        // The caller says going_away to every socket.
        return;
    }
  }

  close(code: number, reason: string): void {
    const socket = this.socket;
    if (!socket.isOpen) return;
    socket.close(code, reason);
    this.closeTimer = setTimeout(() => socket.terminate(), CLOSE_ANSWER_MS);
  }

  holdsNothing(): boolean {
    return (
      this.session === null &&
      this.pendingInitJti === null &&
      (this.watches === null || this.watches.size === 0)
    );
  }
}
