import type { WebSocket } from 'ws';
import { errorFrame } from './errors.js';
import { DONE_FRAME, PEER_FOUND_FRAME } from './protocol/messages.js';
import type { EndReason, Member, Session } from './sessions.js';

const OPEN = 1;
// A peer that does not answer our close frame is cut off after this, not after
// ws's own 30 s, so it stops holding a slot of the socket caps.
const CLOSE_ANSWER_MS = 2_000;
// Frames always go out as text, including raw text frames relayed as bytes.
const AS_TEXT = { binary: false } as const;

/** What the relay knows about one WebSocket. */
export class Client implements Member {
  session: Session | null = null;
  /** jtis this socket watches as a bootstrap controller. */
  watches: Set<string> | null = null;
  /** The jti of the bootstrap_init this socket is waiting on an answer for. */
  pendingInitJti: string | null = null;
  /** Set by any inbound frame or pong; cleared by each heartbeat. */
  alive = true;
  closed = false;
  idleTimer: NodeJS.Timeout | null = null;
  /** Frames that arrived while an asynchronous step (a rate-limit call) ran; keeps order. */
  backlog: Array<Buffer | string> | null = null;

  constructor(
    readonly ws: WebSocket,
    /** The rate-limit key: client address, IPv6 by /64. */
    readonly key: string,
    private readonly maxBufferedBytes: number,
  ) {}

  /** Sends a frame; a reader that lets its buffer grow past the cap is cut off. */
  send(frame: string | Buffer): void {
    const ws = this.ws;
    if (ws.readyState !== OPEN) return;
    ws.send(frame, AS_TEXT);
    if (ws.bufferedAmount > this.maxBufferedBytes) ws.terminate();
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
    if (this.ws.readyState !== OPEN) return;
    this.ws.close(code, reason);
    const ws = this.ws;
    const timer = setTimeout(() => ws.terminate(), CLOSE_ANSWER_MS);
    ws.once('close', () => clearTimeout(timer));
  }

  holdsNothing(): boolean {
    return (
      this.session === null &&
      this.pendingInitJti === null &&
      (this.watches === null || this.watches.size === 0)
    );
  }
}
