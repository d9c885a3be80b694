import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { BootstrapBroker, BootstrapRemote, InitMessage, InitWaiter } from '../bootstrap.js';
import type { Client } from '../connection.js';
import { bootstrapRejectFrame, errorFrame, type BootstrapRejectReason } from '../errors.js';
import type { JoinResult, Pairing, Requester, Rendezvous } from '../pairing.js';
import type { Member, Session } from '../sessions.js';
import type { SharedStore } from './shared-store.js';

/**
 * Messages between instances, on each instance's own Redis channel.
 * "Owner" is the instance holding the target and the session; "link" names
 * one controller, on another instance, bound to that session.
 */
type Wire =
  | { t: 'join'; h: string; l: string; i: string } // controller side → owner
  | { t: 'fail'; l: string; e: JoinResult } // owner → controller side
  | { t: 'down'; l: string; f: string } // a frame for the controller
  | { t: 'close'; l: string; c: number; r: string } // close the controller's socket
  | { t: 'end'; l: string } // the session is over; the socket stays open
  | { t: 'data'; l: string; f: string } // a data frame from the controller
  | { t: 'done'; l: string }
  | { t: 'gone'; l: string } // the controller's socket closed
  // bootstrap: an init presented on one instance, its watcher on another
  | { t: 'binit'; h: string; l: string; i: string; k: string; p: string }
  | { t: 'bfail'; l: string; e: BootstrapRejectReason }
  | { t: 'bgone'; l: string };

type Outcome = JoinResult | 'unavailable';

const noop = (): void => undefined;

// Claims a key for this instance, or refreshes a claim it already holds.
const CLAIM_OR_REFRESH =
  "local v = redis.call('get', KEYS[1]) if v == false or v == ARGV[1] then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0";

const COMPARE_AND_DELETE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** The controller of a session this instance owns, sitting on another instance. */
export class RemoteMember implements Member {
  session: Session | null = null;
  closed = false;
  readonly key = '';

  constructor(
    private readonly cluster: Cluster,
    readonly instance: string,
    readonly link: string,
  ) {}

  send(frame: string | Buffer): void {
    if (!this.closed)
      this.cluster.toController(this, { t: 'down', l: this.link, f: frame.toString() });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.cluster.toController(this, { t: 'close', l: this.link, c: code, r: reason });
    this.cluster.released(this);
  }
}

/** An init socket on another instance, waiting for a watcher's answer here. */
class RemoteInit implements InitWaiter {
  pendingInitJti: string | null = null;
  closed = false;

  constructor(
    private readonly cluster: Cluster,
    readonly instance: string,
    readonly link: string,
  ) {}

  send(frame: string | Buffer): void {
    if (!this.closed) this.cluster.toInit(this, frame.toString());
  }
}

/** A local controller socket bound to a session another instance owns. */
interface Link {
  client: Client;
  owner: string;
  settle: ((outcome: Outcome) => void) | null;
  timer: NodeJS.Timeout | null;
}

export interface ClusterOptions {
  sessionTtlMs: number;
  pairedTtlMs: number;
  watchTtlMs: number;
  timeoutMs: number;
}

/**
 * Sessions across replicas. The target's instance owns the session and keeps
 * enforcing everything (TTL, byte cap, order); a controller on another
 * instance reaches it through Redis pub/sub, so each side sees exactly the
 * messages, in the order, a single instance would give.
 */
export class Cluster implements Rendezvous, BootstrapRemote {
  private readonly owned = new Map<string, Session>();
  private readonly remotes = new Map<string, RemoteMember>();
  private readonly links = new Map<string, Link>();
  /** HMAC key → jti, for watches of sockets on this instance. */
  private readonly ownedWatches = new Map<string, string>();
  /** Inits from other instances waiting on a watcher here, by link. */
  private readonly remoteInits = new Map<string, RemoteInit>();
  /** Local init sockets waiting on a watcher elsewhere, by link. */
  private readonly initLinks = new Map<string, { client: Client; owner: string }>();
  private pairing: Pairing | undefined;
  private bootstrap: BootstrapBroker | undefined;
  /** A local controller left its remote session (idle bookkeeping). */
  private unlinked: (client: Client) => void = () => undefined;

  constructor(
    private readonly store: SharedStore,
    private readonly opts: ClusterOptions,
    private readonly log: Logger,
  ) {}

  async start(
    pairing: Pairing,
    bootstrap: BootstrapBroker,
    unlinked: (client: Client) => void,
  ): Promise<void> {
    this.pairing = pairing;
    this.bootstrap = bootstrap;
    this.unlinked = unlinked;
    this.store.subscriber.on('message', (_channel: string, text: string) => this.onMessage(text));
    this.store.subscriber
      .subscribe(this.store.channel(this.store.instanceId))
      .catch(() => undefined);
    // Do not take traffic a moment before Redis is there, if it comes soon.
    await this.store.connect(5 * this.opts.timeoutMs);
  }

  healthy(): boolean {
    return this.store.healthy();
  }

  // ---- Rendezvous (used by Pairing) ----

  async claim(code: string): Promise<'ok' | 'taken' | 'unavailable'> {
    try {
      const key = this.store.key('rv', code);
      const set = await this.store.command.set(
        key,
        this.store.instanceId,
        'PX',
        this.opts.sessionTtlMs,
        'NX',
      );
      return set === 'OK' ? 'ok' : 'taken';
    } catch {
      return 'unavailable';
    }
  }

  adopt(session: Session): void {
    this.owned.set(this.store.key('rv', session.code), session);
  }

  paired(session: Session): void {
    const key = this.store.key('rv', session.code);
    if (this.owned.get(key) !== session) return;
    this.store.command.pexpire(key, this.opts.pairedTtlMs).catch(() => undefined);
  }

  release(code: string): void {
    const key = this.store.key('rv', code);
    this.owned.delete(key);
    // Only if still ours: the key may have expired and been claimed elsewhere.
    this.store.command
      .eval(COMPARE_AND_DELETE, 1, key, this.store.instanceId)
      .catch(() => undefined);
  }

  async join(code: string, controller: Requester): Promise<Outcome> {
    const client = controller as Client;
    const key = this.store.key('rv', code);
    let owner: string | null;
    try {
      owner = await this.store.command.get(key);
    } catch {
      return 'unavailable';
    }
    if (owner === null || owner === this.store.instanceId || client.closed) return 'otc_not_found';
    const l = randomBytes(12).toString('base64url');
    const link: Link = { client, owner, settle: null, timer: null };
    const outcome = new Promise<Outcome>((resolve) => (link.settle = resolve));
    this.links.set(l, link);
    link.timer = setTimeout(() => {
      // A late peer_found would leave the target paired with nobody: tell the owner.
      this.settle(l, 'otc_not_found');
      this.tell(owner, { t: 'gone', l });
    }, 2 * this.opts.timeoutMs);
    this.publish(
      owner,
      { t: 'join', h: key, l, i: this.store.instanceId },
      () => this.settle(l, 'otc_not_found'), // the owner is gone
      () => this.settle(l, 'unavailable'),
    );
    return outcome;
  }

  // ---- BootstrapRemote (used by BootstrapBroker) ----

  async claimWatch(jti: string): Promise<'ok' | 'taken' | 'unavailable'> {
    const key = this.store.key('watch', jti);
    try {
      const claimed = await this.store.command.eval(
        CLAIM_OR_REFRESH,
        1,
        key,
        this.store.instanceId,
        this.opts.watchTtlMs,
      );
      if (claimed !== 1) return 'taken';
      this.ownedWatches.set(key, jti);
      return 'ok';
    } catch {
      return 'unavailable';
    }
  }

  releaseWatch(jti: string): void {
    const key = this.store.key('watch', jti);
    if (!this.ownedWatches.delete(key)) return;
    this.store.command
      .eval(COMPARE_AND_DELETE, 1, key, this.store.instanceId)
      .catch(() => undefined);
  }

  async locateWatcher(jti: string): Promise<string | undefined> {
    try {
      const owner = await this.store.command.get(this.store.key('watch', jti));
      return owner === null || owner === this.store.instanceId ? undefined : owner;
    } catch {
      return undefined;
    }
  }

  forwardInit(owner: string, client: Client, msg: InitMessage): void {
    const l = randomBytes(12).toString('base64url');
    this.initLinks.set(l, { client, owner });
    client.initLink = l;
    const lost = (): void => this.endInitLink(l, bootstrapRejectFrame('no_watcher'));
    const h = this.store.key('watch', msg.jti);
    const wire: Wire = {
      t: 'binit',
      h,
      l,
      i: this.store.instanceId,
      k: msg.token,
      p: msg.targetPubKey,
    };
    this.publish(owner, wire, lost, lost);
  }

  /** A local init socket closed while it waited on a watcher elsewhere. */
  initGone(client: Client): void {
    const l = client.initLink;
    if (l === null) return;
    const link = this.initLinks.get(l);
    this.endInitLink(l, undefined);
    if (link !== undefined) this.tell(link.owner, { t: 'bgone', l });
  }

  /** The watcher's answer (or a refusal) is the one frame an init ever gets. */
  toInit(waiter: RemoteInit, frame: string): void {
    this.remoteInits.delete(waiter.link);
    waiter.closed = true;
    this.tell(waiter.instance, { t: 'down', l: waiter.link, f: frame });
  }

  // ---- controller side (this instance holds the controller's socket) ----

  /** A data frame (canonical JSON text) from a linked controller. */
  up(client: Client, frame: string): void {
    const link = client.link === null ? undefined : this.links.get(client.link);
    if (link !== undefined)
      this.toOwner(client.link as string, link, { t: 'data', l: client.link as string, f: frame });
  }

  upDone(client: Client): void {
    const link = client.link === null ? undefined : this.links.get(client.link);
    if (link !== undefined)
      this.toOwner(client.link as string, link, { t: 'done', l: client.link as string });
  }

  /** A linked controller's socket closed. */
  gone(client: Client): void {
    const l = client.link;
    if (l === null) return;
    const link = this.links.get(l);
    this.dropLink(l);
    if (link !== undefined) this.tell(link.owner, { t: 'gone', l });
  }

  // ---- owner side (this instance holds the session) ----

  toController(member: RemoteMember, msg: Wire): void {
    const lost = (): void => this.controllerLost(member);
    this.publish(member.instance, msg, lost, lost);
  }

  /** A remote controller left its session here: tell its instance, unless it was closed. */
  released(member: RemoteMember): void {
    if (this.remotes.get(member.link) !== member) return;
    this.remotes.delete(member.link);
    // A closed member's instance already closes its socket (and so the link).
    if (!member.closed) this.toController(member, { t: 'end', l: member.link });
  }

  /** Local sockets tied to work on other instances: live work a drain waits for. */
  get linked(): number {
    return this.links.size + this.initLinks.size;
  }

  /**
   * Shutdown: remote controllers hear peer_disconnected, and the owners of
   * sessions our controllers joined hear that they are gone.
   */
  close(): void {
    for (const member of this.remotes.values()) {
      if (member.session !== null) member.send(errorFrame('peer_disconnected'));
    }
    for (const [l, link] of [...this.links]) {
      this.settle(l, 'unavailable');
      this.tell(link.owner, { t: 'gone', l });
      this.dropLink(l);
    }
    for (const waiter of [...this.remoteInits.values()]) {
      waiter.send(bootstrapRejectFrame('no_watcher'));
    }
    for (const [l, link] of [...this.initLinks]) {
      this.tell(link.owner, { t: 'bgone', l });
      this.endInitLink(l, undefined);
    }
    this.owned.clear();
  }

  private onMessage(text: string): void {
    let msg: Wire;
    try {
      msg = JSON.parse(text) as Wire;
    } catch {
      return;
    }
    const pairing = this.pairing;
    if (pairing === undefined) return;
    switch (msg.t) {
      case 'join': {
        const session = this.owned.get(msg.h);
        const member = new RemoteMember(this, msg.i, msg.l);
        if (session !== undefined) this.remotes.set(msg.l, member);
        const result = session === undefined ? 'otc_not_found' : pairing.join(session, member);
        if (result !== 'joined') {
          this.remotes.delete(msg.l);
          this.tell(msg.i, { t: 'fail', l: msg.l, e: result });
        }
        return;
      }
      case 'data': {
        const member = this.remotes.get(msg.l);
        if (member?.session) pairing.relayFrame(member, msg.f, Buffer.byteLength(msg.f));
        return;
      }
      case 'done': {
        const member = this.remotes.get(msg.l);
        if (member !== undefined) pairing.done(member);
        return;
      }
      case 'gone': {
        const member = this.remotes.get(msg.l);
        if (member === undefined) return;
        member.closed = true;
        this.remotes.delete(msg.l);
        if (member.session !== null) pairing.end(member.session, 'peer_disconnected', member);
        return;
      }
      case 'binit': {
        const jti = this.ownedWatches.get(msg.h);
        const waiter = new RemoteInit(this, msg.i, msg.l);
        const result =
          jti === undefined ? 'no_watcher' : this.bootstrap?.present(jti, msg.k, msg.p, waiter);
        if (result === 'ok') this.remoteInits.set(msg.l, waiter);
        else this.tell(msg.i, { t: 'bfail', l: msg.l, e: 'no_watcher' });
        return;
      }
      case 'bfail':
        return this.endInitLink(msg.l, bootstrapRejectFrame(msg.e));
      case 'bgone': {
        const waiter = this.remoteInits.get(msg.l);
        if (waiter === undefined) return;
        this.remoteInits.delete(msg.l);
        waiter.closed = true;
        this.bootstrap?.dropWaiter(waiter);
        return;
      }
      case 'fail':
        return this.settle(msg.l, msg.e);
      case 'down': {
        if (this.initLinks.has(msg.l)) return this.endInitLink(msg.l, msg.f);
        const link = this.links.get(msg.l);
        if (link === undefined) return;
        if (link.settle !== null) this.settle(msg.l, 'joined'); // the first frame is peer_found
        link.client.send(msg.f);
        return;
      }
      case 'close': {
        const link = this.links.get(msg.l);
        this.dropLink(msg.l);
        link?.client.close(msg.c, msg.r);
        return;
      }
      case 'end':
        return this.dropLink(msg.l);
    }
  }

  private settle(l: string, outcome: Outcome): void {
    const link = this.links.get(l);
    if (link?.settle == null) return;
    const settle = link.settle;
    link.settle = null;
    if (link.timer !== null) clearTimeout(link.timer);
    link.timer = null;
    if (outcome !== 'joined' || link.client.closed) {
      this.links.delete(l);
      if (outcome === 'joined') this.tell(link.owner, { t: 'gone', l });
    } else {
      link.client.link = l;
      // If the owner dies, nobody ends this link: expire it on our side too.
      link.timer = setTimeout(
        () => {
          link.client.send(errorFrame('otc_expired'));
          link.client.close(1000, 'session expired');
          this.dropLink(l);
        },
        this.opts.pairedTtlMs + 2 * this.opts.timeoutMs,
      );
    }
    settle(outcome);
  }

  /** Ends a local init's wait, delivering `frame` (its answer or refusal) if any. */
  private endInitLink(l: string, frame: string | undefined): void {
    const link = this.initLinks.get(l);
    if (link === undefined) return;
    this.initLinks.delete(l);
    const { client } = link;
    if (client.initLink === l) client.initLink = null;
    client.pendingInitJti = null;
    if (frame !== undefined) client.send(frame);
    if (!client.closed) this.unlinked(client);
  }

  private toOwner(l: string, link: Link, msg: Wire): void {
    const lost = (): void => {
      if (!this.links.has(l)) return;
      link.client.send(errorFrame('peer_disconnected'));
      this.dropLink(l);
    };
    this.publish(link.owner, msg, lost, lost);
  }

  private controllerLost(member: RemoteMember): void {
    if (member.closed && member.session === null) return;
    member.closed = true;
    this.remotes.delete(member.link);
    if (member.session !== null) this.pairing?.end(member.session, 'peer_disconnected', member);
  }

  private dropLink(l: string): void {
    const link = this.links.get(l);
    if (link === undefined) return;
    this.links.delete(l);
    if (link.timer !== null) clearTimeout(link.timer);
    link.timer = null;
    if (link.client.link === l) {
      link.client.link = null;
      if (!link.client.closed) this.unlinked(link.client);
    }
  }

  /** Publishes where nothing is to be done if nobody hears it. */
  private tell(instance: string, msg: Wire): void {
    this.publish(instance, msg, noop, noop);
  }

  private publish(instance: string, msg: Wire, nobody: () => void, failed: () => void): void {
    this.store.command.publish(this.store.channel(instance), JSON.stringify(msg)).then(
      (receivers) => {
        if (receivers === 0) nobody();
      },
      (err: unknown) => {
        this.log.debug({ err: (err as Error).message }, 'publish failed');
        failed();
      },
    );
  }
}
