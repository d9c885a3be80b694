import type { WebSocket } from 'ws';
import type { Member, Session } from './sessions.js';

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
  /** Scale-out: the link to a session another instance owns, for a controller. */
  link: string | null = null;
  /** Scale-out: the link to a watcher on another instance, for an init socket. */
  initLink: string | null = null;
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
      this.link === null &&
      this.pendingInitJti === null &&
      (this.watches === null || this.watches.size === 0)
    );
  }
}
