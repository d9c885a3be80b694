import type { EndReason, Member, Session } from '../core/sessions.js';
import type { WireBody } from './wire.js';

/** How a remote peer reaches the instance that holds its socket. */
export interface PeerLink {
  /** Delivers, or ends the peer's session (peer_disconnected) if the other instance cannot be reached. */
  deliver(peer: RemotePeer, body: WireBody): void;
  forget(peer: RemotePeer): void;
}

/**
 * A session member whose socket is on another instance. Both instances hold
 * the session (the owner the original, the controller's instance a replica),
 * each with a RemotePeer for the end it does not hold, so every rule runs the
 * same on both: what one end does reaches the other as data or as an end.
 */
export class RemotePeer implements Member {
  session: Session | null = null;
  closed = false;

  constructor(
    private readonly link: PeerLink,
    /** The instance holding the socket. */
    readonly instance: string,
    /** The link id both instances know this pairing by. */
    readonly id: string,
    /** The owner announces the pairing; a replica's target already heard it there. */
    private readonly announces: boolean,
  ) {}

  send(frame: string | Buffer): void {
    if (!this.closed) this.link.deliver(this, { t: 'data', l: this.id, f: frame.toString() });
  }

  peerFound(): void {
    if (this.announces && !this.closed) this.link.deliver(this, { t: 'found', l: this.id });
  }

  ended(reason: EndReason, self: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.link.forget(this);
    // An end that came from there needs no echo.
    if (!self) this.link.deliver(this, { t: 'end', l: this.id, r: reason });
  }
}
