import type { ThrottledLog } from '../observe/throttled-log.js';
import type { Logger } from '../observe/logger.js';
import { errorFrame, type ErrorCode } from '../protocol/errors.js';
import type { RelayEvents } from '../observe/events.js';
import { ACK_FRAME, dataFrame } from '../protocol/messages.js';
import type { AttemptBudget } from '../limits/attempt-budget.js';
import type { Answer } from '../limits/answer.js';
import type { Claim, JoinResult, Rendezvous, SessionHost } from './rendezvous.js';
import type { Clock } from './clock.js';
import { ExpiryQueue } from './expiry.js';
import type { EndReason, Member, Session, SessionStore } from './sessions.js';

type Action = 'listen' | 'connect';

/** A socket asking for something: a session member plus its rate-limit key. */
export type Requester = Member & { readonly key: string };

export interface PairingDeps {
  sessionStore: SessionStore;
  /** Failed listen/connect per client address. */
  addressBudget: AttemptBudget;
  /** Failed listen/connect per code value, from any address. */
  codeBudget: AttemptBudget;
  log: Logger;
  /** Where rate-limit refusals are logged, once per address per while. */
  refusals: ThrottledLog;
  events: RelayEvents;
  /** Timestamps and the two TTLs. */
  clock: Clock;
  /** Present in scale-out mode only. */
  rendezvous: Rendezvous | undefined;
  sessionTtlMs: number;
  pairedTtlMs: number;
  maxSessionBytes: number;
  isDraining: () => boolean;
  /** Called whenever a member gains or loses its session (idle timer bookkeeping). */
  roleChanged: (member: Member) => void;
  /** A local `listen` opened a session for this client key (misconfiguration warnings). */
  opened: (key: string) => void;
}

/** listen / connect / data / done and the end of a session. */
export class Pairing implements SessionHost {
  /** Unpaired sessions (sessionTtlMs) and paired ones (pairedTtlMs): one timer each. */
  private readonly waiting: ExpiryQueue<Session>;
  private readonly pairedTtl: ExpiryQueue<Session>;

  constructor(private readonly deps: PairingDeps) {
    const expire = (session: Session): void => this.end(session, 'expired');
    this.waiting = new ExpiryQueue(deps.clock, 'session_ttl', deps.sessionTtlMs, expire);
    this.pairedTtl = new ExpiryQueue(deps.clock, 'paired_ttl', deps.pairedTtlMs, expire);
  }

  // listen and connect run in one turn when every budget answers at once (in
  // memory), and wait only for a store that is over the network. Each step
  // is a method, continued by bind() on the asynchronous path: a method
  // that holds an arrow function gets a scope object at every call, taken
  // or not, and closures and scopes were most of the garbage an idle
  // relay's RSS still held (bun:jsc heapStats, docs/benchmarks.md).

  listen(client: Requester, code: string): Answer<void> {
    if (client.session !== null) return this.refuse(client, 'otc_in_use');
    if (this.deps.isDraining()) return this.refuse(client, 'going_away');
    const admitted = this.admit(client, code, 'listen');
    return admitted instanceof Promise
      ? admitted.then(this.listenAdmitted.bind(this, client, code))
      : this.listenAdmitted(client, code, admitted);
  }

  connect(client: Requester, code: string): Answer<void> {
    if (client.session !== null) return this.refuse(client, 'otc_in_use');
    const admitted = this.admit(client, code, 'connect');
    return admitted instanceof Promise
      ? admitted.then(this.connectAdmitted.bind(this, client, code))
      : this.connectAdmitted(client, code, admitted);
  }

  /** Binds a controller (local, or on another instance) to a waiting session. */
  join(session: Session, controller: Member): JoinResult {
    if (this.deps.sessionStore.find(session.code) !== session) return 'otc_not_found';
    if (session.controller !== null) return 'peer_already_connected';
    session.controller = controller;
    session.pairedAt = this.deps.clock.now();
    controller.session = session;
    // Once paired, at most one more TTL: time for a person to compare codes.
    this.pairedTtl.add(session, session.pairedAt);
    this.deps.rendezvous?.paired(session);
    this.deps.roleChanged(controller);
    session.target.peerFound();
    controller.peerFound();
    const waitedMs = session.pairedAt - session.openedAt;
    if (!session.replica) this.deps.events.paired(waitedMs);
    this.deps.log.debug({ session: session.id, waitedMs }, 'session paired');
    return 'joined';
  }

  /** Forwards a payload to the peer. Without a peer there is no one to tell: dropped. */
  data(client: Member, payload: string, frameBytes: number): void {
    if (client.session?.controller) this.relayFrame(client, dataFrame(payload), frameBytes);
  }

  /** Relays a frame that is already a well-formed `data` frame (text or bytes). */
  relayFrame(client: Member, frame: string | Buffer, frameBytes: number): void {
    const session = client.session;
    if (session === null || session.controller === null) return;
    session.bytes += frameBytes;
    if (session.bytes > this.deps.maxSessionBytes) return this.end(session, 'data_limit');
    const peer = session.target === client ? session.controller : session.target;
    peer.send(frame);
  }

  done(client: Member): void {
    if (client.session !== null) this.end(client.session, 'done', client);
  }

  claimLost(session: Session): void {
    if (session.controller === null) this.end(session, 'claim_lost');
  }

  /** Ends a session once, whatever the cause; every path comes through here. */
  end(session: Session, reason: EndReason, by?: Member): void {
    if (!this.deps.sessionStore.remove(session)) return;
    this.deps.rendezvous?.release(session);
    session.expiry?.remove(session);
    const members =
      session.controller === null ? [session.target] : [session.target, session.controller];
    for (const member of members) member.session = null;
    for (const member of members) {
      member.ended(reason, member === by);
      if (!member.closed) this.deps.roleChanged(member);
    }
    const paired = session.controller !== null;
    // A listen that never pairs costs its address an attempt: otherwise ack
    // versus otc_in_use would be a free test of which codes are live.
    if (!paired && reason !== 'burned' && reason !== 'shutdown' && reason !== 'claim_lost') {
      void this.deps.addressBudget.spend(session.targetKey).catch(() => undefined);
    }
    const durationMs = this.deps.clock.now() - session.openedAt;
    if (!session.replica) {
      const outcome =
        reason !== 'expired' ? reason : paired ? 'expired_paired' : 'expired_unpaired';
      this.deps.events.sessionEnded(outcome, durationMs, session.bytes);
    }
    this.deps.log.debug(
      { session: session.id, reason, durationMs, bytes: session.bytes },
      'session ended',
    );
  }

  /** Ends every session (shutdown), with no message: the caller says going_away. */
  endAll(): void {
    for (const session of [...this.deps.sessionStore.all()]) this.end(session, 'shutdown');
  }

  /** The local copy of a session owned elsewhere; it runs the same join, TTL and caps. */
  private replicate(code: string, target: Member, controller: Member): 'joined' | 'relay_capacity' {
    const replica = controller.closed
      ? 'closed'
      : this.deps.sessionStore.open(code, target, '', this.deps.clock.now(), true);
    if (typeof replica === 'string') {
      target.ended('peer_disconnected', false);
      return 'relay_capacity';
    }
    target.session = replica;
    this.join(replica, controller);
    return 'joined';
  }

  /**
   * The address's budget reserves an attempt, and the code must not be
   * burned; false when either refused (the client has been told).
   */
  private admit(client: Requester, code: string, action: Action): Answer<boolean> {
    const reserved = this.deps.addressBudget.begin(client.key);
    return reserved instanceof Promise
      ? reserved.then(this.reserved.bind(this, client, code, action))
      : this.reserved(client, code, action, reserved);
  }

  private reserved(client: Requester, code: string, action: Action, ok: boolean): Answer<boolean> {
    if (!ok) {
      // A client address is logged on refusals: an operator needs it here.
      this.deps.refusals.warn(client.key, { action }, 'rate limited: failed attempts');
      this.refuse(client, 'rate_limited');
      return false;
    }
    const burned = this.deps.codeBudget.spent(code);
    return burned instanceof Promise
      ? burned.then(this.unburned.bind(this, client, code, action))
      : this.unburned(client, code, action, burned);
  }

  private unburned(
    client: Requester,
    code: string,
    action: Action,
    burned: boolean,
  ): Answer<boolean> {
    if (!burned) return true;
    // On connect a burned code answers like an absent one: no oracle for the guesser.
    const error = action === 'listen' ? 'otc_in_use' : 'otc_not_found';
    return this.fail(client, code, error).then(() => false);
  }

  private listenAdmitted(client: Requester, code: string, admitted: boolean): Answer<void> {
    if (!admitted) return;
    if (this.deps.sessionStore.find(code) !== undefined)
      return this.fail(client, code, 'otc_in_use');
    // Claim cluster-wide before opening, so a local controller can never be
    // told peer_found before the target has its ack.
    const { rendezvous } = this.deps;
    if (rendezvous === undefined) return this.open(client, code, 'local');
    return rendezvous.claim(code).then(this.open.bind(this, client, code));
  }

  private connectAdmitted(client: Requester, code: string, admitted: boolean): Answer<void> {
    if (!admitted) return;
    if (client.closed) return this.succeeded(client);
    const session = this.deps.sessionStore.find(code);
    if (session !== undefined) return this.joined(client, code, this.join(session, client));
    const { rendezvous } = this.deps;
    if (rendezvous === undefined) return this.joined(client, code, 'otc_not_found');
    return this.joinElsewhere(client, code, rendezvous);
  }

  /** Not here: the instance that owns the code, if any, takes the join. */
  private joinElsewhere(client: Requester, code: string, rendezvous: Rendezvous): Promise<void> {
    return rendezvous
      .join(code, client, (target) => this.replicate(code, target, client))
      .catch(() => 'unavailable' as const)
      .then((result) => this.joined(client, code, result));
  }

  /** After the claim (or none, on one instance): opens the session, or says why not. */
  private open(client: Requester, code: string, claim: Claim | 'local'): Answer<void> {
    const { sessionStore, rendezvous } = this.deps;
    if (claim === 'taken') return this.fail(client, code, 'otc_in_use');
    if (claim === 'unavailable')
      this.deps.log.warn('shared store unreachable: session is local until it can be claimed');
    const now = this.deps.clock.now();
    const opened = client.closed
      ? 'closed'
      : sessionStore.open(code, client, client.key, now, false);
    if (typeof opened === 'string') {
      if (claim === 'ok') rendezvous?.unclaim(code);
      if (opened === 'otc_in_use') return this.fail(client, code, opened);
      this.succeeded(client);
      if (opened === 'closed') return;
      this.deps.log.warn({ sessions: sessionStore.size }, 'session table full');
      return this.refuse(client, opened);
    }
    this.succeeded(client);
    client.session = opened;
    this.waiting.add(opened, now);
    // Adopted even when the store was away: the claim is written once it is back.
    rendezvous?.adopt(opened);
    this.deps.roleChanged(client);
    client.send(ACK_FRAME);
    this.deps.opened(client.key);
    this.deps.log.debug({ session: opened.id }, 'session opened');
  }

  /** What a connect's join came to, here or through another instance. */
  private joined(
    client: Requester,
    code: string,
    result: JoinResult | 'relay_capacity' | 'unavailable',
  ): Answer<void> {
    if (result === 'joined') return this.succeeded(client);
    if (result === 'relay_capacity') {
      this.succeeded(client);
      return this.refuse(client, result);
    }
    if (result !== 'unavailable') return this.fail(client, code, result);
    // Not found here and nobody to ask: still a miss for the guess budget, or an
    // outage would turn every instance into a free guessing oracle.
    this.deps.log.warn('shared store unreachable: cross-instance connect refused');
    const spent = this.deps.addressBudget.end(client.key, true);
    if (!(spent instanceof Promise)) return this.refuse(client, 'relay_capacity');
    return spent.then(this.refuse.bind(this, client, 'relay_capacity'));
  }

  /** A success never spends the budget of a person pairing normally. */
  private succeeded(client: Requester): void {
    void this.deps.addressBudget.end(client.key, false);
  }

  /**
   * A failed attempt spends the address's reserved attempt and counts against
   * the code; a code with too many failures is burned, and an unpaired
   * session on it ends.
   */
  private async fail(client: Requester, code: string, error: ErrorCode): Promise<void> {
    const { addressBudget, codeBudget, sessionStore } = this.deps;
    await addressBudget.end(client.key, true);
    const withinBudget = await codeBudget.spend(code).catch(() => true);
    if (!withinBudget || (await codeBudget.spent(code))) {
      const live = sessionStore.find(code);
      if (live !== undefined && live.controller === null) this.end(live, 'burned');
    }
    this.refuse(client, error);
  }

  private refuse(client: Requester, code: ErrorCode): void {
    this.deps.events.rejected(code);
    client.send(errorFrame(code));
  }
}
