import type { BootstrapHost, BootstrapRemote, InitMessage, InitWaiter } from '../core/bootstrap.js';
import { bootstrapRejectFrame } from '../protocol/errors.js';
import type { Claim } from '../core/rendezvous.js';
import type { Bus } from './bus.js';
import { linkId } from './link-id.js';
import type { Claims } from './claims.js';
import type { SharedStore } from './shared-store.js';
import type { Wire } from './wire.js';

/** An init presented on another instance, waiting for the answer of a watcher here. */
class RemoteInit implements InitWaiter {
  pendingInitJti: string | null = null;
  closed = false;

  constructor(
    private readonly owner: RemoteBootstrap,
    readonly instance: string,
    readonly link: string,
  ) {}

  /** The answer, or a refusal: the one frame an init ever gets. */
  send(frame: string | Buffer): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.answer(this, frame.toString());
  }
}

/** An init from a socket here, forwarded to the watcher's instance. */
interface Forwarded {
  waiter: InitWaiter;
  owner: string;
  jti: string;
}

/**
 * Bootstrap across instances: a watch is claimed in Redis by its watcher's
 * instance; an init presented elsewhere is forwarded there, and the answer
 * comes back on the init's link.
 */
export class RemoteBootstrap implements BootstrapRemote {
  /** Claim key → jti, for watches of sockets here (written back after an outage). */
  private readonly watched = new Map<string, string>();
  private readonly forwarded = new Map<string, Forwarded>();
  private readonly linkOf = new Map<InitWaiter, string>();
  private readonly waiting = new Map<string, RemoteInit>();

  constructor(
    private readonly store: SharedStore,
    private readonly claims: Claims,
    private readonly bus: Bus,
    private readonly host: BootstrapHost,
    private readonly watchTtlMs: number,
  ) {}

  // ---- BootstrapRemote (called by the broker) ----

  async claimWatch(jti: string): Promise<Claim> {
    const key = this.store.key('watch', jti);
    let won: boolean;
    try {
      won = await this.claims.claim(key, this.watchTtlMs);
    } catch {
      // Kept here all the same, and claimed once Redis answers again.
      this.watched.set(key, jti);
      return 'unavailable';
    }
    if (!won) return 'taken';
    this.watched.set(key, jti);
    return 'ok';
  }

  releaseWatch(jti: string): void {
    const key = this.store.key('watch', jti);
    if (this.watched.delete(key)) this.claims.release(key);
  }

  async locateWatcher(jti: string): Promise<string | undefined> {
    try {
      const owner = await this.store.bounded(this.store.command.get(this.store.key('watch', jti)));
      return owner === null || owner === this.bus.self ? undefined : owner;
    } catch {
      return undefined;
    }
  }

  forwardInit(owner: string, waiter: InitWaiter, msg: InitMessage): void {
    this.cancelInit(waiter);
    const l = linkId();
    this.forwarded.set(l, { waiter, owner, jti: msg.jti });
    this.linkOf.set(waiter, l);
    const h = this.store.key('watch', msg.jti);
    const lost = (): void => this.settle(l, bootstrapRejectFrame('no_watcher'));
    this.bus.send(owner, { t: 'binit', l, h, k: msg.token, p: msg.targetPubKey }).then((heard) => {
      if (heard === 0) lost();
    }, lost);
  }

  cancelInit(waiter: InitWaiter): void {
    const l = this.linkOf.get(waiter);
    if (l === undefined) return;
    const link = this.forwarded.get(l);
    this.linkOf.delete(waiter);
    this.forwarded.delete(l);
    if (link !== undefined) this.bus.tell(link.owner, { t: 'bgone', l });
  }

  /** A watcher here answered an init from elsewhere (called by RemoteInit). */
  answer(waiter: RemoteInit, frame: string): void {
    this.waiting.delete(waiter.link);
    this.bus.tell(waiter.instance, { t: 'banswer', l: waiter.link, f: frame });
  }

  // ---- messages from other instances ----

  receive(msg: Extract<Wire, { t: 'binit' | 'banswer' | 'bgone' }>): void {
    switch (msg.t) {
      case 'binit': {
        const jti = this.watched.get(msg.h);
        const waiter = new RemoteInit(this, msg.i, msg.l);
        this.waiting.set(msg.l, waiter);
        const result =
          jti === undefined ? 'no_watcher' : this.host.present(jti, msg.k, msg.p, waiter);
        if (result !== 'ok') waiter.send(bootstrapRejectFrame(result));
        return;
      }
      case 'banswer':
        return this.settle(msg.l, msg.f);
      case 'bgone': {
        const waiter = this.waiting.get(msg.l);
        if (waiter === undefined) return;
        this.waiting.delete(msg.l);
        waiter.closed = true;
        return this.host.dropWaiter(waiter);
      }
    }
  }

  // ---- membership (called by the cluster) ----

  instances(): Set<string> {
    const out = new Set<string>();
    for (const link of this.forwarded.values()) out.add(link.owner);
    for (const waiter of this.waiting.values()) out.add(waiter.instance);
    return out;
  }

  instanceDead(instance: string): void {
    for (const [l, link] of [...this.forwarded]) {
      if (link.owner === instance) this.settle(l, bootstrapRejectFrame('no_watcher'));
    }
    for (const [l, waiter] of [...this.waiting]) {
      if (waiter.instance !== instance) continue;
      this.waiting.delete(l);
      waiter.closed = true;
      this.host.dropWaiter(waiter);
    }
  }

  /** After an outage: writes back every watch of a socket here; a jti watched elsewhere meanwhile is lost. */
  async reclaim(): Promise<void> {
    const watched = [...this.watched];
    const results = await Promise.all(
      watched.map(([key]) => this.claims.claim(key, this.watchTtlMs)),
    );
    results.forEach((won, i) => {
      const [key, jti] = watched[i] as [string, string];
      if (won || this.watched.get(key) !== jti) return;
      this.watched.delete(key);
      this.host.watchLost(jti);
    });
  }

  /** Shutdown: inits waiting on watchers here hear no_watcher; ours elsewhere are withdrawn. */
  close(): void {
    for (const waiter of [...this.waiting.values()])
      waiter.send(bootstrapRejectFrame('no_watcher'));
    for (const waiter of [...this.linkOf.keys()]) this.cancelInit(waiter);
    this.watched.clear();
  }

  private settle(l: string, frame: string): void {
    const link = this.forwarded.get(l);
    if (link === undefined) return;
    this.forwarded.delete(l);
    if (this.linkOf.get(link.waiter) === l) this.linkOf.delete(link.waiter);
    this.host.answered(link.waiter, link.jti, frame);
  }
}
