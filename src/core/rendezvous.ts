import type { EndReason, Member, Session } from './sessions.js';

export type JoinResult = 'joined' | 'otc_not_found' | 'peer_already_connected';
export type Claim = 'ok' | 'taken' | 'unavailable';

/**
 * The seam for sessions across instances (scale-out). A code is owned by the
 * instance its target is on. A controller elsewhere joins through the owner;
 * its own instance then holds a replica of the session, whose other member
 * stands for the target, so both instances run the same rules on it.
 */
export interface Rendezvous {
  /** 'taken' when another instance holds the code; 'unavailable' when the shared store cannot say. */
  claim(code: string): Promise<Claim>;
  /** A session with its target here: joins from other instances reach it; its claim is kept. */
  adopt(session: Session): void;
  /** Keeps the claim for the paired TTL. */
  paired(session: Session): void;
  /** The session is over: give up its claim, if this instance holds it. */
  release(session: Session): void;
  /** Gives up a claim whose session never opened. */
  unclaim(code: string): void;
  /**
   * Joins a session another instance owns. On success `replicate` is called,
   * synchronously, with the member that stands for the remote target, before
   * any frame from it can arrive.
   */
  join(
    code: string,
    controller: Member,
    replicate: (target: Member) => 'joined' | 'relay_capacity',
  ): Promise<JoinResult | 'relay_capacity' | 'unavailable'>;
}

/** What the cluster may ask of the session core when a message arrives from another instance. */
export interface SessionHost {
  join(session: Session, controller: Member): JoinResult;
  relayFrame(member: Member, frame: string | Buffer, frameBytes: number): void;
  end(session: Session, reason: EndReason, by?: Member): void;
  /** After an outage the code was found held elsewhere: an unpaired session here must go. */
  claimLost(session: Session): void;
}
