import type { Logger } from '../observe/logger.js';
import { BootstrapBroker } from './bootstrap.js';
import type { ResolvedOptions } from '../config/options.js';
import { Client, closeIdle, type ClientHost, type Frame, type IdleMark } from './client.js';
import { ClientRegistry } from './client-registry.js';
import { ExpiryQueue } from './expiry.js';
import { SYSTEM_CLOCK, type Clock, type Timer } from './clock.js';
import type { Backends } from './backends.js';
import { errorFrame } from '../protocol/errors.js';
import type { RelayEvents } from '../observe/events.js';
import { Pairing } from './pairing.js';
import { isPlainDataFrame, isPlainDataText } from '../protocol/fast-data.js';
import { parseFrame, type ParseLimits } from '../protocol/parse.js';
import type { ClusterStatus } from '../observe/cluster-status.js';
import type { Cluster } from './cluster-seam.js';
import type { MisconfigWarnings } from '../observe/warnings.js';
import { ThrottledLog } from '../observe/throttled-log.js';
import type { AttemptBudget } from '../limits/attempt-budget.js';
import type { Answer } from '../limits/answer.js';
import { MemorySessionStore, type Member, type SessionStore } from './sessions.js';
import type { SocketKind } from './socket.js';

export type { Frame } from './client.js';

export type Admission = 'ok' | 'sockets_full' | 'address_full';

/** What a relay is built from. */
export interface RelayParts {
  opts: ResolvedOptions;
  log: Logger;
  events: RelayEvents;
  backends: Backends;
  /** The transport's kind of socket (core/socket.ts): the only thing the core knows of it. */
  sockets: SocketKind<unknown>;
  /** What an operator is warned of (observe/warnings.ts); the upgrade gate feeds it too. */
  warnings: MisconfigWarnings;
  /** Every deadline and timestamp of the core (core/clock.ts); the system clock by default. */
  clock?: Clock | undefined;
}

/**
 * The protocol engine: sockets in, sessions and bootstrap watches out.
 * Knows nothing about HTTP; http/upgrade-gate.ts admits sockets, server.ts
 * wires it all.
 */
export class Relay implements ClientHost {
  readonly clients = new ClientRegistry<Client>();
  readonly sessionStore: SessionStore;
  readonly warnings: MisconfigWarnings;
  /** Refusals that name the client address, logged once per address per while (the upgrade gate's too). */
  readonly refusals: ThrottledLog;
  private isDraining = false;

  private readonly pairing: Pairing;
  private readonly bootstrap: BootstrapBroker;
  private readonly limits: ParseLimits;
  private readonly cluster: Cluster | undefined;
  private heartbeat: Timer | null = null;
  readonly idle: ExpiryQueue<IdleMark> | null;

  readonly events: RelayEvents;
  /** What the transport's sockets are: given at construction, one object for all of them. */
  readonly socketKind: SocketKind<unknown>;
  readonly clock: Clock;
  private readonly opts: ResolvedOptions;
  private readonly log: Logger;
  private readonly backends: Backends;

  constructor(parts: RelayParts) {
    const { opts, log, events, backends } = parts;
    this.opts = opts;
    this.log = log;
    this.events = events;
    this.backends = backends;
    this.socketKind = parts.sockets;
    const clock = (this.clock = parts.clock ?? SYSTEM_CLOCK);
    this.idle =
      opts.idleTimeoutMs > 0 ? new ExpiryQueue(clock, 'idle', opts.idleTimeoutMs, closeIdle) : null;
    this.sessionStore = new MemorySessionStore(opts.maxSessions);
    const refusals = (this.refusals = new ThrottledLog(log));
    this.warnings = parts.warnings;
    const { addressBudget, codeBudget, watchBudget } = backends;
    const isDraining = (): boolean => this.isDraining;
    const roleChanged = (member: Member): void => {
      if (member instanceof Client) member.roleChanged();
    };
    // The plug-in only calls its host when another instance speaks, which is
    // after start(): by then both halves of the core below exist.
    this.cluster = backends.cluster?.({
      sessions: {
        join: (session, controller) => this.pairing.join(session, controller),
        relayFrame: (member, frame, bytes) => this.pairing.relayFrame(member, frame, bytes),
        end: (session, reason, by) => this.pairing.end(session, reason, by),
        claimLost: (session) => this.pairing.claimLost(session),
      },
      bootstrap: {
        present: (jti, token, key, waiter) => this.bootstrap.present(jti, token, key, waiter),
        dropWaiter: (waiter) => this.bootstrap.dropWaiter(waiter),
        answered: (waiter, jti, frame) => this.bootstrap.answered(waiter, jti, frame),
        watchLost: (jti) => this.bootstrap.watchLost(jti),
      },
    });
    this.pairing = new Pairing({
      sessionStore: this.sessionStore,
      addressBudget,
      codeBudget,
      log,
      refusals,
      events,
      clock,
      rendezvous: this.cluster?.rendezvous,
      sessionTtlMs: opts.sessionTtlMs,
      pairedTtlMs: opts.pairedTtlMs,
      maxSessionBytes: opts.maxSessionBytes,
      isDraining,
      roleChanged,
      opened: (key) => this.warnings.sessionOpened(key),
    });
    this.bootstrap = new BootstrapBroker({
      consumed: backends.jtis,
      refusals,
      remote: this.cluster?.bootstrap,
      watchBudget,
      log,
      events,
      clock,
      watchTtlMs: opts.watchTtlMs,
      isDraining,
      roleChanged: (waiter) => {
        if (waiter instanceof Client) waiter.roleChanged();
      },
    });
    this.limits = { maxJtiLength: opts.maxJtiLength, allowLongCodes: opts.allowLongCodes };
  }

  /** Draining: /ready says so, no upgrade is admitted, no listen or watch starts. */
  get draining(): boolean {
    return this.isDraining;
  }

  /** From now on the relay drains (there is no way back: stop() follows). */
  beginDrain(): void {
    this.isDraining = true;
  }

  /** Starts talking to the other instances (scale-out only). */
  async start(): Promise<void> {
    await this.cluster?.start();
  }

  /** Scale-out only: how the shared store and this instance's part in the cluster stand. */
  get clusterStatus(): ClusterStatus | undefined {
    return this.cluster?.status();
  }

  /** Live work a graceful drain waits for: sessions (replicas too), watches, pending bootstraps. */
  get inFlight(): number {
    return this.sessionStore.size + this.bootstrap.inFlight;
  }

  get bootstrapInFlight(): number {
    return this.bootstrap.inFlight;
  }

  /** Failed attempts per client address: code guesses, and wrong access tokens. */
  get addressBudget(): AttemptBudget {
    return this.backends.addressBudget;
  }

  /** Decided at upgrade time, before any WebSocket exists. */
  admit(key: string): Admission {
    const admission =
      this.clients.size >= this.opts.maxSockets
        ? 'sockets_full'
        : this.clients.countOf(key) >= this.opts.maxSocketsPerIp
          ? 'address_full'
          : 'ok';
    if (admission !== 'ok') this.events.rejected(`upgrade_${admission}`);
    return admission;
  }

  get maxBufferedBytes(): number {
    return this.opts.maxBufferedBytes;
  }

  /** A socket the transport accepted; its events go to the returned client. */
  attach(socket: unknown, key: string): Client {
    const client = new Client(socket, key, this);
    this.clients.add(key, client);
    if (this.heartbeat === null && this.opts.heartbeatMs > 0) this.startHeartbeat();
    return client;
  }

  /** Every live socket gets `going_away` and close 1001; sessions are dropped. */
  goAway(): void {
    this.pairing.endAll();
    this.clients.every((client) => {
      client.send(errorFrame('going_away'));
      client.close(1001, 'going away');
    });
  }

  /** Clears every timer and store; the relay holds nothing afterwards. */
  async dispose(): Promise<void> {
    this.stopHeartbeat();
    this.pairing.endAll();
    this.bootstrap.close();
    this.clients.every((client) => client.dispose());
    this.refusals.clear();
    const { addressBudget, codeBudget, watchBudget, jtis } = this.backends;
    for (const budget of [addressBudget, codeBudget, watchBudget]) budget.close();
    // This process's part only: a shared ledger's burned jtis stay for the other instances.
    jtis.clear();
    await this.cluster?.close();
  }

  failed(err: unknown): void {
    this.log.error({ err }, 'message handler failed');
  }

  /** One frame from a client, in order (the client holds later ones while this is pending). */
  handle(client: Client, frame: Frame): Answer<void> {
    if (typeof frame !== 'string') {
      if (isPlainDataFrame(frame)) {
        this.pairing.relayFrame(client, frame, frame.length);
        return undefined;
      }
    } else if (isPlainDataText(frame)) {
      this.pairing.relayFrame(client, frame, Buffer.byteLength(frame));
      return undefined;
    }
    const text = typeof frame === 'string' ? frame : frame.toString();
    const msg = parseFrame(text, this.limits);
    if (typeof msg === 'string') {
      this.events.rejected(msg);
      client.send(errorFrame(msg));
      return undefined;
    }
    switch (msg.type) {
      case 'data':
        this.pairing.data(client, msg.payload, Buffer.byteLength(text));
        return undefined;
      case 'listen':
        return this.pairing.listen(client, msg.otc);
      case 'connect':
        return this.pairing.connect(client, msg.otc);
      case 'done':
        this.pairing.done(client);
        return undefined;
      case 'bootstrap_watch':
        return this.bootstrap.watch(client, msg.jti);
      case 'bootstrap_init':
        return this.bootstrap.init(client, msg);
      case 'bootstrap_ack':
      case 'bootstrap_reject':
        this.bootstrap.answer(client, msg);
        return undefined;
    }
  }

  onClose(client: Client): void {
    this.clients.remove(client.key, client);
    if (client.session !== null) this.pairing.end(client.session, 'peer_disconnected', client);
    this.bootstrap.drop(client);
    if (this.clients.size === 0) this.stopHeartbeat();
  }

  // One heartbeat for all sockets, armed only while there are sockets, so an
  // idle relay (scale-to-zero) wakes for nothing.
  // Each round sets the next one (a one-shot deadline, as the clock seam has
  // only those), measured from when the round ran, as setInterval would.
  private startHeartbeat(): void {
    this.heartbeat = this.clock.schedule(
      'heartbeat',
      this.clock.now() + this.opts.heartbeatMs,
      this.beat,
    );
  }

  private readonly beat = (): void => {
    this.heartbeat = null;
    this.clients.every(this.beatOne);
    if (this.clients.size > 0) this.startHeartbeat();
  };

  private readonly beatOne = (client: Client): void => {
    if (!client.beat()) this.log.debug('dead peer terminated');
  };

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) this.clock.cancel(this.heartbeat);
    this.heartbeat = null;
  }
}
