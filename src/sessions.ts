/**
 * What a session needs from each of its two ends. A local WebSocket is one
 * (connection.ts); a peer on another instance can be another, which is the
 * seam for scale-out fan-out.
 */
export interface Member {
  session: Session | null;
  readonly closed: boolean;
  send(frame: string | Buffer): void;
  close(code: number, reason: string): void;
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
  controller: Member | null;
  /** Bytes of `data` frames received for this session, both ways. */
  bytes: number;
  readonly openedAt: number;
  pairedAt: number;
  timer: NodeJS.Timeout | null;
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
  ): Session | 'otc_in_use' | 'relay_capacity';
  /** Removes the session if it is still the live one for its code. */
  remove(session: Session): boolean;
  all(): IterableIterator<Session>;
}

/** In-memory; a shared store for scale-out implements the same interface. */
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
  ): Session | 'otc_in_use' | 'relay_capacity' {
    if (this.byCode.has(code)) return 'otc_in_use';
    if (this.byCode.size >= this.maxSessions) return 'relay_capacity';
    const session: Session = {
      id: this.nextId++,
      code,
      target,
      targetKey,
      controller: null,
      bytes: 0,
      openedAt: now,
      pairedAt: 0,
      timer: null,
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
