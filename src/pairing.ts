import type { Logger } from 'pino';
import { errorFrame, type ErrorCode } from './errors.js';
import type { RelayEvents } from './events.js';
import { ACK_FRAME, DONE_FRAME, PEER_FOUND_FRAME, dataFrame } from './protocol/messages.js';
import type { AttemptBudget } from './rate-limit.js';
import type { Member, Session, SessionStore } from './sessions.js';

/** A socket asking for something: a session member plus its rate-limit key. */
type Requester = Member & { readonly key: string };

export type EndReason =
  'done' | 'peer_disconnected' | 'expired' | 'data_limit' | 'burned' | 'shutdown';

export interface PairingDeps {
  registry: SessionStore;
  /** Failed listen/connect per client address. */
  addressBudget: AttemptBudget;
  /** Failed listen/connect per code value, from any address. */
  codeBudget: AttemptBudget;
  log: Logger;
  events: RelayEvents;
  sessionTtlMs: number;
  pairedTtlMs: number;
  maxSessionBytes: number;
  isDraining: () => boolean;
  /** Called whenever a client gains or loses its session (idle timer bookkeeping). */
  roleChanged: (member: Member) => void;
}

/** listen / connect / data / done and the end of a session. */
export class Pairing {
  constructor(private readonly deps: PairingDeps) {}

  async listen(client: Requester, code: string): Promise<void> {
    const { registry, codeBudget } = this.deps;
    if (client.session !== null) return this.refuse(client, 'otc_in_use');
    if (this.deps.isDraining()) return this.refuse(client, 'going_away');
    if (!(await this.reserve(client, 'listen'))) return;

    if (await codeBudget.spent(code)) return this.fail(client, code, 'otc_in_use');
    if (client.closed) return this.refund(client);
    const opened = registry.open(code, client, Date.now());
    if (opened === 'otc_in_use') return this.fail(client, code, opened);
    if (opened === 'relay_capacity') {
      this.refund(client);
      this.deps.log.warn({ sessions: registry.size }, 'session table full');
      return this.refuse(client, opened);
    }

    this.refund(client);
    client.session = opened;
    opened.timer = setTimeout(() => this.end(opened, 'expired'), this.deps.sessionTtlMs);
    this.deps.roleChanged(client);
    client.send(ACK_FRAME);
    this.deps.log.debug({ session: opened.id }, 'session opened');
  }

  async connect(client: Requester, code: string): Promise<void> {
    const { registry, codeBudget } = this.deps;
    if (client.session !== null) return this.refuse(client, 'otc_in_use');
    if (!(await this.reserve(client, 'connect'))) return;

    // A burned code answers like an absent one: no oracle for the guesser.
    if (await codeBudget.spent(code)) return this.fail(client, code, 'otc_not_found');
    if (client.closed) return this.refund(client);
    const session = registry.find(code);
    if (session === undefined) return this.fail(client, code, 'otc_not_found');
    if (session.controller !== null) return this.fail(client, code, 'peer_already_connected');

    this.refund(client);
    session.controller = client;
    session.pairedAt = Date.now();
    client.session = session;
    // Once paired, at most one more TTL: time for a person to compare codes.
    if (session.timer !== null) clearTimeout(session.timer);
    session.timer = setTimeout(() => this.end(session, 'expired'), this.deps.pairedTtlMs);
    this.deps.roleChanged(client);
    session.target.send(PEER_FOUND_FRAME);
    client.send(PEER_FOUND_FRAME);
    const waitedMs = session.pairedAt - session.openedAt;
    this.deps.events.paired(waitedMs);
    this.deps.log.debug({ session: session.id, waitedMs }, 'session paired');
  }

  /**
   * Forwards a payload (or an already well-formed data frame, as bytes) to the
   * peer. Without a peer there is no one to tell: dropped.
   */
  data(client: Requester, payload: string | Buffer, frameBytes: number): void {
    const session = client.session;
    if (session === null || session.controller === null) return;
    session.bytes += frameBytes;
    if (session.bytes > this.deps.maxSessionBytes) return this.end(session, 'data_limit');
    const peer = session.target === client ? session.controller : session.target;
    peer.send(typeof payload === 'string' ? dataFrame(payload) : payload);
  }

  done(client: Requester): void {
    if (client.session !== null) this.end(client.session, 'done', client);
  }

  /** Ends a session once, whatever the cause; every path comes through here. */
  end(session: Session, reason: EndReason, by?: Member): void {
    if (!this.deps.registry.remove(session)) return;
    if (session.timer !== null) clearTimeout(session.timer);
    session.timer = null;
    const members =
      session.controller === null ? [session.target] : [session.target, session.controller];
    for (const member of members) member.session = null;

    for (const member of members) {
      const other = member !== by;
      switch (reason) {
        case 'done':
          if (other) member.send(DONE_FRAME);
          break;
        case 'peer_disconnected':
          if (other) member.send(errorFrame('peer_disconnected'));
          break;
        case 'expired':
        case 'burned':
          member.send(errorFrame('otc_expired'));
          member.close(1000, 'session expired');
          break;
        case 'data_limit':
          member.send(errorFrame('session_data_limit'));
          member.close(1008, 'session data limit');
          break;
        case 'shutdown':
          break;
      }
      if (!member.closed) this.deps.roleChanged(member);
    }
    const paired = session.controller !== null;
    const durationMs = Date.now() - session.openedAt;
    const outcome = reason !== 'expired' ? reason : paired ? 'expired_paired' : 'expired_unpaired';
    this.deps.events.sessionEnded(outcome, durationMs, session.bytes);
    this.deps.log.debug(
      { session: session.id, outcome, durationMs, bytes: session.bytes },
      'session ended',
    );
  }

  /** Ends every session (shutdown), with no message: the caller says going_away. */
  endAll(): void {
    for (const session of [...this.deps.registry.all()]) this.end(session, 'shutdown');
  }

  private async reserve(client: Requester, action: 'listen' | 'connect'): Promise<boolean> {
    if (await this.deps.addressBudget.take(client.key)) return true;
    // The one place a client address is logged: an operator needs it here.
    this.deps.log.warn({ client: client.key, action }, 'rate limited: failed attempts');
    this.refuse(client, 'rate_limited');
    return false;
  }

  /** A success never spends the budget of a person pairing normally. */
  private refund(client: Requester): void {
    this.deps.addressBudget.refund(client.key).catch((err: unknown) => {
      this.deps.log.error({ err }, 'rate-limit refund failed');
    });
  }

  /**
   * A failed attempt keeps its reserved point and counts against the code;
   * a code with too many failures is burned, and an unpaired session on it ends.
   */
  private async fail(client: Requester, code: string, error: ErrorCode): Promise<void> {
    const { codeBudget, registry } = this.deps;
    const withinBudget = await codeBudget.take(code);
    if (!withinBudget || (await codeBudget.spent(code))) {
      const live = registry.find(code);
      if (live !== undefined && live.controller === null) this.end(live, 'burned');
    }
    this.refuse(client, error);
  }

  private refuse(client: Requester, code: ErrorCode): void {
    this.deps.events.rejected(code);
    client.send(errorFrame(code));
  }
}
