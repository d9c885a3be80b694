import { errorFrame } from '../protocol/errors.js';
import { DONE_FRAME, PEER_FOUND_FRAME } from '../protocol/messages.js';
import type { Clock, Timer } from './clock.js';
import type { EndReason, Member, Session } from './sessions.js';
import type { SocketEvents, SocketKind } from './socket.js';

// A peer that does not answer our close frame is cut off after this, not after
// ws's own 30 s, so it stops holding a slot of the socket caps.
const CLOSE_ANSWER_MS = 2_000;

/** Where a client's socket events go: the relay. */
export interface ClientHost {
  onFrame(client: Client, frame: Buffer | string): void;
  onClose(client: Client): void;
  /** A reader whose unsent bytes pass this is cut off. */
  readonly maxBufferedBytes: number;
  /** The one kind of socket this relay's transport hands it. */
  readonly socketKind: SocketKind<unknown>;
  readonly clock: Clock;
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
  idleTimer: Timer | null = null;
  /** Cuts off a socket that does not answer our close frame. */
  closeTimer: Timer | null = null;
  /** Frames that arrived while an asynchronous step (a rate-limit call) ran; keeps order. */
  backlog: Array<Buffer | string> | null = null;

  constructor(
    /** The runtime's own socket, only ever handed back to the host's socketKind. */
    private readonly socket: unknown,
    /** The rate-limit key: client address, IPv6 by /64. */
    readonly key: string,
    private readonly host: ClientHost,
  ) {}

  get isOpen(): boolean {
    return this.host.socketKind.isOpen(this.socket);
  }

  terminate(): void {
    this.host.socketKind.terminate(this.socket);
  }

  ping(): void {
    this.host.socketKind.ping(this.socket);
  }

  /** Stops reading the socket; false if the transport cannot. */
  pause(): boolean {
    return this.host.socketKind.pause(this.socket);
  }

  resume(): void {
    this.host.socketKind.resume(this.socket);
  }

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
    const { socket } = this;
    const kind = this.host.socketKind;
    if (!kind.isOpen(socket)) return;
    kind.send(socket, frame);
    if (kind.bufferedAmount(socket) > this.host.maxBufferedBytes) kind.terminate(socket);
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
    const { socket } = this;
    const kind = this.host.socketKind;
    if (!kind.isOpen(socket)) return;
    kind.close(socket, code, reason);
    const { clock } = this.host;
    this.closeTimer = clock.schedule('close_answer', clock.now() + CLOSE_ANSWER_MS, () =>
      kind.terminate(socket),
    );
  }

  holdsNothing(): boolean {
    return (
      this.session === null &&
      this.pendingInitJti === null &&
      (this.watches === null || this.watches.size === 0)
    );
  }
}
