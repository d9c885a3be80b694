import type { Expiring, ExpiryQueue } from './expiry.js';

/** Why a session ended; every end goes through Pairing.end() with one of these. */
export type EndReason =
  | 'done'
  | 'peer_disconnected'
  | 'expired'
  | 'data_limit'
  | 'burned'
  | 'shutdown'
  /** Scale-out: after an outage, another instance was found holding the code. */
  | 'claim_lost';

export const END_REASONS: readonly EndReason[] = [
  'done',
  'peer_disconnected',
  'expired',
  'data_limit',
  'burned',
  'shutdown',
  'claim_lost',
];

/**
 * One end of a session, as the protocol core sees it. A local WebSocket is
 * one (client.ts); a peer on another instance is another (scale-out):
 * the core treats both alike, so every rule holds wherever the peer lives.
 */
export interface Member {
  session: Session | null;
  readonly closed: boolean;
  /** A data frame from the other end. */
  send(frame: string | Buffer): void;
  /** The session now has both ends. */
  peerFound(): void;
  /** The session is over; `self` when this member's own act ended it. */
  ended(reason: EndReason, self: boolean): void;
}

/**
 * One pairing: a target waiting under a code, then bound to one controller.
 * Sockets point at the Session object, never at the code, so a socket whose
 * session ended can never reach a later session that reuses the same code.
 */
export interface Session {
  readonly id: number;
  readonly code: string;
  readonly target: Member;
  /** The target's rate-limit key: an unpaired end is charged to it. */
  readonly targetKey: string;
  /**
   * A copy of a session whose target is on another instance (scale-out): it
   * keeps every rule here, and leaves the counting (metrics) to the owner.
   */
  readonly replica: boolean;
  controller: Member | null;
  /** Bytes of `data` frames received for this session, both ways. */
  bytes: number;
  readonly openedAt: number;
  pairedAt: number;
  /** When the current TTL runs out (epoch ms). */
  expiresAt: number;
  /** The TTL queue holding the session (expiry.ts), and its place there. */
  expiry: ExpiryQueue<Expiring> | null;
  slot: number;
}

/** The rendezvous table: code → live session. */
export interface SessionStore {
  readonly size: number;
  find(code: string): Session | undefined;
  open(
    code: string,
    target: Member,
    targetKey: string,
    now: number,
    replica: boolean,
  ): Session | 'otc_in_use' | 'relay_capacity';
  /** Removes the session if it is still the live one for its code. */
  remove(session: Session): boolean;
  all(): IterableIterator<Session>;
}

export class MemorySessionStore implements SessionStore {
  private readonly byCode = new Map<string, Session>();
  private nextId = 1;

  constructor(private readonly maxSessions: number) {}

  get size(): number {
    return this.byCode.size;
  }

  find(code: string): Session | undefined {
    return this.byCode.get(code);
  }

  open(
    code: string,
    target: Member,
    targetKey: string,
    now: number,
    replica: boolean,
  ): Session | 'otc_in_use' | 'relay_capacity' {
    if (this.byCode.has(code)) return 'otc_in_use';
    if (this.byCode.size >= this.maxSessions) return 'relay_capacity';
    const session: Session = {
      id: this.nextId++,
      code,
      target,
      targetKey,
      replica,
      controller: null,
      bytes: 0,
      openedAt: now,
      pairedAt: 0,
      expiresAt: 0,
      expiry: null,
      slot: -1,
    };
    this.byCode.set(code, session);
    return session;
  }

  remove(session: Session): boolean {
    if (this.byCode.get(session.code) !== session) return false;
    this.byCode.delete(session.code);
    return true;
  }

  all(): IterableIterator<Session> {
    return this.byCode.values();
  }
}
