import type { ThrottledLog } from '../observe/throttled-log.js';
import type { Logger } from '../observe/logger.js';
import type { Client } from './client.js';
import {
  bootstrapRejectFrame,
  errorFrame,
  type BootstrapRejectReason,
  type ErrorCode,
} from '../protocol/errors.js';
import type { RelayEvents } from '../observe/events.js';
import type { JtiLedger } from '../limits/jti-ledger.js';
import { encode, type ClientMessage } from '../protocol/messages.js';
import type { AttemptBudget } from '../limits/attempt-budget.js';
import type { Clock, Timer } from './clock.js';
import type { Claim } from './rendezvous.js';

export type InitMessage = Extract<ClientMessage, { type: 'bootstrap_init' }>;
type AnswerMessage = Extract<ClientMessage, { type: 'bootstrap_ack' | 'bootstrap_reject' }>;

/** Who waits for a watcher's answer: a local socket, or one on another instance. */
export interface InitWaiter {
  pendingInitJti: string | null;
  readonly closed: boolean;
  send(frame: string | Buffer): void;
}

/** The seam for bootstrap across instances (scale-out): watches are claimed cluster-wide. */
export interface BootstrapRemote {
  /** 'taken' when a socket on another instance watches the jti. */
  claimWatch(jti: string): Promise<Claim>;
  releaseWatch(jti: string): void;
  /** The instance whose socket watches the jti, if another one does. */
  locateWatcher(jti: string): Promise<string | undefined>;
  /** Presents an init there; its answer comes back through BootstrapHost.answered(). */
  forwardInit(owner: string, waiter: InitWaiter, msg: InitMessage): void;
  /** The waiter no longer waits for what it forwarded (closed, or a newer init). */
  cancelInit(waiter: InitWaiter): void;
}

/**
 * An init handed to the local watcher: 'ok', or why not: no watcher here,
 * or another init for the jti already waits (a ledger that let the jti
 * through twice, as a fail-open store does while Redis is away).
 */
export type Presented = 'ok' | 'no_watcher' | 'token_already_used';

/** What the cluster may ask of the bootstrap core when a message arrives from another instance. */
export interface BootstrapHost {
  present(jti: string, token: string, targetPubKey: string, waiter: InitWaiter): Presented;
  dropWaiter(waiter: InitWaiter): void;
  /** The answer (or a refusal) to an init this instance forwarded. */
  answered(waiter: InitWaiter, jti: string, frame: string): void;
  /** After an outage the jti was found watched elsewhere: the watch here must go. */
  watchLost(jti: string): void;
}

export interface BootstrapDeps {
  consumed: JtiLedger;
  /** Where rate-limit refusals are logged, once per address per while. */
  refusals: ThrottledLog;
  /** Present in scale-out mode only. */
  remote: BootstrapRemote | undefined;
  /** bootstrap_watch per client address. */
  watchBudget: AttemptBudget;
  log: Logger;
  events: RelayEvents;
  /** The watch TTL. */
  clock: Clock;
  watchTtlMs: number;
  isDraining: () => boolean;
  roleChanged: (waiter: InitWaiter) => void;
}

interface Watch {
  client: Client;
  timer: Timer;
}

/**
 * Bootstrap-token pairing: a controller watches a jti, a new target presents
 * the token once, the controller answers. Only whitelisted fields cross.
 */
export class BootstrapBroker implements BootstrapHost {
  private readonly watches = new Map<string, Watch>();
  private readonly pendingInits = new Map<string, InitWaiter>();
  /** Local waiters whose init went to a watcher on another instance, with its jti. */
  private readonly forwarded = new Map<InitWaiter, string>();

  constructor(private readonly deps: BootstrapDeps) {}

  /** Watches plus inits waiting on an answer: work a drain should let finish. */
  get inFlight(): number {
    return this.watches.size + this.pendingInits.size + this.forwarded.size;
  }

  async watch(client: Client, jti: string): Promise<void> {
    if (this.deps.isDraining()) return this.refuse(client, 'going_away');
    if (!(await this.deps.watchBudget.spend(client.key))) {
      this.deps.refusals.warn(client.key, { action: 'bootstrap_watch' }, 'rate limited: watches');
      return this.refuse(client, 'rate_limited');
    }
    if (client.closed) return;
    const existing = this.watches.get(jti);
    // First live claim wins: last-write-wins let anyone race a controller off its slot.
    if (existing !== undefined && existing.client !== client) {
      return this.refuse(client, 'jti_already_watched');
    }
    const { remote } = this.deps;
    if (remote !== undefined) {
      const claim = await remote.claimWatch(jti);
      if (claim === 'taken') return this.refuse(client, 'jti_already_watched');
      const now = this.watches.get(jti);
      if (client.closed || (now !== undefined && now.client !== client)) {
        if (now === undefined) remote.releaseWatch(jti);
        return client.closed ? undefined : this.refuse(client, 'jti_already_watched');
      }
    }
    const current = this.watches.get(jti);
    const { clock } = this.deps;
    if (current !== undefined) clock.cancel(current.timer);
    const timer = clock.schedule('watch_ttl', clock.now() + this.deps.watchTtlMs, () =>
      this.unwatch(jti, true),
    );
    this.watches.set(jti, { client, timer });
    client.watch(jti);
    client.send(encode({ type: 'bootstrap_watching', jti }));
  }

  async init(client: Client, msg: InitMessage): Promise<void> {
    const { consumed, remote } = this.deps;
    if (await consumed.isUsed(msg.jti)) return this.rejectInit(client, 'token_already_used');
    const local = this.watches.has(msg.jti);
    const owner = local || remote === undefined ? undefined : await remote.locateWatcher(msg.jti);
    if (!local && owner === undefined) return this.rejectInit(client, 'no_watcher');
    // Burn the jti now, before any answer: a crash or disconnect mid-way must
    // not let the same token be tried again by someone else.
    const burned = await consumed.consume(msg.jti);
    if (burned === 'used') return this.rejectInit(client, 'token_already_used');
    if (burned === 'full') {
      this.deps.log.warn({ consumed: consumed.size }, 'consumed-jti store full');
      return this.rejectInit(client, 'relay_overloaded');
    }
    if (client.closed) return;
    if (owner !== undefined && remote !== undefined) {
      this.dropWaiter(client);
      client.pendingInitJti = msg.jti;
      this.forwarded.set(client, msg.jti);
      this.deps.roleChanged(client);
      return remote.forwardInit(owner, client, msg);
    }
    const presented = this.present(msg.jti, msg.token, msg.targetPubKey, client);
    if (presented !== 'ok') this.rejectInit(client, presented);
  }

  /** Hands a (burned) init to the local watcher; `waiter` gets the answer. */
  present(jti: string, token: string, targetPubKey: string, waiter: InitWaiter): Presented {
    const watch = this.watches.get(jti);
    if (watch === undefined) return 'no_watcher';
    // The first init keeps its place: replacing it would leave its socket waiting for ever.
    const first = this.pendingInits.get(jti);
    if (first !== undefined && first !== waiter) return 'token_already_used';
    // One init waits per socket: a newer one replaces the older, wherever that went.
    this.dropWaiter(waiter);
    waiter.pendingInitJti = jti;
    this.pendingInits.set(jti, waiter);
    this.deps.roleChanged(waiter);
    watch.client.send(encode({ type: 'bootstrap_init', jti, token, targetPubKey }));
    return 'ok';
  }

  /** The waiter stops waiting (it closed, or a newer init replaces its pending one). */
  dropWaiter(waiter: InitWaiter): void {
    if (waiter.pendingInitJti !== null && this.pendingInits.get(waiter.pendingInitJti) === waiter) {
      this.pendingInits.delete(waiter.pendingInitJti);
    }
    if (this.forwarded.delete(waiter)) this.deps.remote?.cancelInit(waiter);
    waiter.pendingInitJti = null;
  }

  answered(waiter: InitWaiter, jti: string, frame: string): void {
    // A stale answer (to an init since replaced) must not touch the newer one.
    if (this.forwarded.get(waiter) !== jti) return;
    this.forwarded.delete(waiter);
    waiter.pendingInitJti = null;
    waiter.send(frame);
    if (!waiter.closed) this.deps.roleChanged(waiter);
  }

  watchLost(jti: string): void {
    const watch = this.watches.get(jti);
    if (watch === undefined) return;
    this.refuse(watch.client, 'jti_already_watched');
    this.unwatch(jti, true);
  }

  /** The watcher's ack or reject; only the socket that holds the watch may answer. */
  answer(client: Client, msg: AnswerMessage): void {
    const watch = this.watches.get(msg.jti);
    if (watch === undefined || watch.client !== client) return this.refuse(client, 'invalid_jti');
    const target = this.pendingInits.get(msg.jti);
    if (target !== undefined) {
      this.pendingInits.delete(msg.jti);
      target.pendingInitJti = null;
      const reply: { type: typeof msg.type; jti: string; controllerPubKey?: string } = {
        type: msg.type,
        jti: msg.jti,
      };
      if (msg.publicKey !== undefined) reply.controllerPubKey = msg.publicKey;
      target.send(encode(reply));
      this.deps.roleChanged(target);
    }
    this.unwatch(msg.jti, false);
    this.deps.log.debug(
      { answer: msg.type, delivered: target !== undefined },
      'bootstrap answered',
    );
  }

  /** A socket closed: drop its watches and its pending init. */
  drop(client: Client): void {
    for (const jti of client.watches()) this.unwatch(jti, true);
    this.dropWaiter(client);
  }

  close(): void {
    for (const watch of this.watches.values()) this.deps.clock.cancel(watch.timer);
    this.watches.clear();
    this.pendingInits.clear();
    this.forwarded.clear();
  }

  private refuse(client: Client, code: ErrorCode): void {
    this.deps.events.rejected(code);
    client.send(errorFrame(code));
  }

  private rejectInit(client: InitWaiter, reason: BootstrapRejectReason): void {
    this.deps.events.rejected(reason);
    client.send(bootstrapRejectFrame(reason));
  }

  /** Ends a watch; a target still waiting on it is told there is no watcher any more. */
  private unwatch(jti: string, abandoned: boolean): void {
    const watch = this.watches.get(jti);
    if (watch === undefined) return;
    this.deps.clock.cancel(watch.timer);
    this.watches.delete(jti);
    watch.client.unwatch(jti);
    this.deps.remote?.releaseWatch(jti);
    const target = this.pendingInits.get(jti);
    if (abandoned && target !== undefined) {
      this.pendingInits.delete(jti);
      target.pendingInitJti = null;
      this.rejectInit(target, 'no_watcher');
      this.deps.roleChanged(target);
    }
    if (!watch.client.closed) this.deps.roleChanged(watch.client);
  }
}
