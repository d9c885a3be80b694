import type { Logger } from 'pino';
import type { Client } from './connection.js';
import {
  bootstrapRejectFrame,
  errorFrame,
  type BootstrapRejectReason,
  type ErrorCode,
} from './errors.js';
import type { RelayEvents } from './events.js';
import type { JtiLedger } from './jti-ledger.js';
import { encode, type ClientMessage } from './protocol/messages.js';
import type { AttemptBudget } from './rate-limit.js';

type InitMessage = Extract<ClientMessage, { type: 'bootstrap_init' }>;
type AnswerMessage = Extract<ClientMessage, { type: 'bootstrap_ack' | 'bootstrap_reject' }>;

export interface BootstrapDeps {
  consumed: JtiLedger;
  /** bootstrap_watch per client address. */
  watchBudget: AttemptBudget;
  log: Logger;
  events: RelayEvents;
  watchTtlMs: number;
  isDraining: () => boolean;
  roleChanged: (client: Client) => void;
}

interface Watch {
  client: Client;
  timer: NodeJS.Timeout;
}

/**
 * Bootstrap-token pairing: a controller watches a jti, a new target presents
 * the token once, the controller answers. Only whitelisted fields cross.
 */
export class BootstrapBroker {
  private readonly watches = new Map<string, Watch>();
  private readonly pendingInits = new Map<string, Client>();

  constructor(private readonly deps: BootstrapDeps) {}

  /** Watches plus inits waiting on an answer: work a drain should let finish. */
  get inFlight(): number {
    return this.watches.size + this.pendingInits.size;
  }

  async watch(client: Client, jti: string): Promise<void> {
    if (this.deps.isDraining()) return this.refuse(client, 'going_away');
    if (!(await this.deps.watchBudget.spend(client.key))) {
      this.deps.log.warn(
        { client: client.key, action: 'bootstrap_watch' },
        'rate limited: watches',
      );
      return this.refuse(client, 'rate_limited');
    }
    if (client.closed) return;
    const existing = this.watches.get(jti);
    // First live claim wins: last-write-wins let anyone race a controller off its slot.
    if (existing !== undefined && existing.client !== client) {
      return this.refuse(client, 'jti_already_watched');
    }
    if (existing !== undefined) clearTimeout(existing.timer);
    const timer = setTimeout(() => this.unwatch(jti, true), this.deps.watchTtlMs);
    this.watches.set(jti, { client, timer });
    (client.watches ??= new Set()).add(jti);
    this.deps.roleChanged(client);
    client.send(encode({ type: 'bootstrap_watching', jti }));
  }

  async init(client: Client, msg: InitMessage): Promise<void> {
    const { consumed } = this.deps;
    if (await consumed.isUsed(msg.jti)) return this.rejectInit(client, 'token_already_used');
    if (!this.watches.has(msg.jti)) return this.rejectInit(client, 'no_watcher');
    // Burn the jti now, before any answer: a crash or disconnect mid-way must
    // not let the same token be tried again by someone else.
    const burned = await consumed.consume(msg.jti);
    if (burned === 'used') return this.rejectInit(client, 'token_already_used');
    if (burned === 'full') {
      this.deps.log.warn({ consumed: consumed.size }, 'consumed-jti store full');
      return this.rejectInit(client, 'relay_overloaded');
    }
    const watch = this.watches.get(msg.jti);
    if (watch === undefined) return this.rejectInit(client, 'no_watcher');
    if (client.closed) return;
    if (client.pendingInitJti !== null) this.pendingInits.delete(client.pendingInitJti);
    client.pendingInitJti = msg.jti;
    this.pendingInits.set(msg.jti, client);
    this.deps.roleChanged(client);
    watch.client.send(
      encode({
        type: 'bootstrap_init',
        jti: msg.jti,
        token: msg.token,
        targetPubKey: msg.targetPubKey,
      }),
    );
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
    if (client.watches !== null) for (const jti of [...client.watches]) this.unwatch(jti, true);
    if (client.pendingInitJti !== null) {
      if (this.pendingInits.get(client.pendingInitJti) === client) {
        this.pendingInits.delete(client.pendingInitJti);
      }
      client.pendingInitJti = null;
    }
  }

  close(): void {
    for (const watch of this.watches.values()) clearTimeout(watch.timer);
    this.watches.clear();
    this.pendingInits.clear();
  }

  private refuse(client: Client, code: ErrorCode): void {
    this.deps.events.rejected(code);
    client.send(errorFrame(code));
  }

  private rejectInit(client: Client, reason: BootstrapRejectReason): void {
    this.deps.events.rejected(reason);
    client.send(bootstrapRejectFrame(reason));
  }

  /** Ends a watch; a target still waiting on it is told there is no watcher any more. */
  private unwatch(jti: string, abandoned: boolean): void {
    const watch = this.watches.get(jti);
    if (watch === undefined) return;
    clearTimeout(watch.timer);
    this.watches.delete(jti);
    watch.client.watches?.delete(jti);
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
