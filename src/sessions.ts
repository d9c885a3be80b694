import type { Client } from './connection.js';

/**
 * One pairing: a target waiting under a code, then bound to one controller.
 * Sockets point at the Session object, never at the code, so a socket whose
 * session ended can never reach a later session that reuses the same code.
 */
export interface Session {
  readonly id: number;
  readonly code: string;
  readonly target: Client;
  controller: Client | null;
  /** Bytes of `data` frames received for this session, both ways. */
  bytes: number;
  readonly openedAt: number;
  pairedAt: number;
  timer: NodeJS.Timeout | null;
}

/**
 * The rendezvous table: code → live session. In-memory; the seam where a
 * shared registry for scale-out would plug in.
 */
export class SessionRegistry {
  private readonly byCode = new Map<string, Session>();
  private nextId = 1;

  constructor(private readonly maxSessions: number) {}

  get size(): number {
    return this.byCode.size;
  }

  find(code: string): Session | undefined {
    return this.byCode.get(code);
  }

  open(code: string, target: Client, now: number): Session | 'otc_in_use' | 'relay_capacity' {
    if (this.byCode.has(code)) return 'otc_in_use';
    if (this.byCode.size >= this.maxSessions) return 'relay_capacity';
    const session: Session = {
      id: this.nextId++,
      code,
      target,
      controller: null,
      bytes: 0,
      openedAt: now,
      pairedAt: 0,
      timer: null,
    };
    this.byCode.set(code, session);
    return session;
  }

  /** Removes the session if it is still the live one for its code. */
  remove(session: Session): boolean {
    if (this.byCode.get(session.code) !== session) return false;
    this.byCode.delete(session.code);
    return true;
  }

  all(): IterableIterator<Session> {
    return this.byCode.values();
  }
}
