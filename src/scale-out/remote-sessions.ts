import type { JoinResult, Rendezvous, SessionHost } from '../core/rendezvous.js';
import type { Member, Session } from '../core/sessions.js';
import type { Bus } from './bus.js';
import { linkId } from './link-id.js';
import type { Claims } from './claims.js';
import { RemotePeer, type PeerLink } from './remote-peer.js';
import type { SharedStore } from './shared-store.js';
import type { Wire, WireBody } from './wire.js';

type Outcome = JoinResult | 'relay_capacity' | 'unavailable';

interface PendingJoin {
  owner: string;
  replicate: (target: Member) => 'joined' | 'relay_capacity';
  resolve: (outcome: Outcome) => void;
  timer: NodeJS.Timeout;
}

export interface RemoteSessionsOptions {
  sessionTtlMs: number;
  pairedTtlMs: number;
  timeoutMs: number;
}

/**
 * Sessions across instances. A code is claimed in Redis by the instance of
 * its target (the owner). A controller on another instance joins through the
 * owner; its instance then holds a replica (Pairing.replicate), and from then
 * on the two sessions speak through a RemotePeer each.
 */
export class RemoteSessions implements Rendezvous, PeerLink {
  /** Claim key → session whose target is here: joins reach it; its claim is written back after an outage. */
  private readonly owned = new Map<string, Session>();
  private readonly peers = new Map<string, RemotePeer>();
  private readonly pending = new Map<string, PendingJoin>();

  constructor(
    private readonly store: SharedStore,
    private readonly claims: Claims,
    private readonly bus: Bus,
    private readonly host: SessionHost,
    private readonly opts: RemoteSessionsOptions,
  ) {}

  // ---- Rendezvous (called by Pairing) ----

  async claim(code: string): Promise<'ok' | 'taken' | 'unavailable'> {
    try {
      const won = await this.claims.claim(this.store.key('rv', code), this.opts.sessionTtlMs);
      return won ? 'ok' : 'taken';
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

  release(session: Session): void {
    const key = this.store.key('rv', session.code);
    if (this.owned.get(key) !== session) return;
    this.owned.delete(key);
    this.claims.release(key);
  }

  unclaim(code: string): void {
    this.claims.release(this.store.key('rv', code));
  }

  async join(
    code: string,
    controller: Member,
    replicate: PendingJoin['replicate'],
  ): Promise<Outcome> {
    const key = this.store.key('rv', code);
    let owner: string | null;
    try {
      owner = await this.store.bounded(this.store.command.get(key));
    } catch {
      return 'unavailable';
    }
    // Our own claim without a session here is a stale one: nothing to join.
    if (owner === null || owner === this.bus.self || controller.closed) return 'otc_not_found';
    const l = linkId();
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        // The owner may still pair a moment later: tell it the controller is gone.
        this.bus.tell(owner, { t: 'end', l, r: 'peer_disconnected' });
        this.settle(l, 'unavailable');
      }, 2 * this.opts.timeoutMs);
      this.pending.set(l, { owner, replicate, resolve, timer });
      this.bus.send(owner, { t: 'join', l, h: key }).then(
        (heard) => {
          if (heard === 0) this.settle(l, 'otc_not_found'); // the owner is gone
        },
        () => this.settle(l, 'unavailable'),
      );
    });
  }

  // ---- PeerLink (called by RemotePeer) ----

  deliver(peer: RemotePeer, body: WireBody): void {
    const lost = (): void => this.lost(peer);
    this.bus.send(peer.instance, body).then((heard) => {
      if (heard === 0) lost();
    }, lost);
  }

  forget(peer: RemotePeer): void {
    if (this.peers.get(peer.id) === peer) this.peers.delete(peer.id);
  }

  // ---- messages from other instances ----

  receive(msg: Extract<Wire, { t: 'join' | 'found' | 'fail' | 'data' | 'end' }>): void {
    switch (msg.t) {
      case 'join': {
        const session = this.owned.get(msg.h);
        const peer = new RemotePeer(this, msg.i, msg.l, true);
        this.peers.set(msg.l, peer);
        const result = session === undefined ? 'otc_not_found' : this.host.join(session, peer);
        if (result === 'joined') return;
        this.peers.delete(msg.l);
        return this.bus.tell(msg.i, { t: 'fail', l: msg.l, e: result });
      }
      case 'found': {
        const join = this.take(msg.l);
        if (join === undefined)
          return this.bus.tell(msg.i, { t: 'end', l: msg.l, r: 'peer_disconnected' });
        const peer = new RemotePeer(this, join.owner, msg.l, false);
        this.peers.set(msg.l, peer);
        // Synchronously, before the owner's next message (data) is handled.
        return join.resolve(join.replicate(peer));
      }
      case 'fail':
        return this.settle(msg.l, msg.e);
      case 'data': {
        const peer = this.peers.get(msg.l);
        // A session this instance already ended: say so, so the other side ends too.
        if (peer?.session == null)
          return this.bus.tell(msg.i, { t: 'end', l: msg.l, r: 'peer_disconnected' });
        return this.host.relayFrame(peer, msg.f, Buffer.byteLength(msg.f));
      }
      case 'end': {
        const peer = this.peers.get(msg.l);
        if (peer === undefined) return;
        // The other instance shutting down is, to this end, its peer leaving.
        const reason = msg.r === 'shutdown' ? 'peer_disconnected' : msg.r;
        if (peer.session !== null) this.host.end(peer.session, reason, peer);
        else this.forget(peer);
        return;
      }
    }
  }

  // ---- membership (called by the cluster) ----

  /** Instances this one shares a session or a pending join with. */
  instances(): Set<string> {
    const out = new Set<string>();
    for (const peer of this.peers.values()) out.add(peer.instance);
    for (const join of this.pending.values()) out.add(join.owner);
    return out;
  }

  /** That instance is gone: its sessions' peers here are told at once. */
  instanceDead(instance: string): void {
    for (const peer of [...this.peers.values()]) {
      if (peer.instance !== instance) continue;
      // Ended here with an end sent there too: if it is alive after all (only
      // its presence lapsed), its side ends now instead of at the TTL.
      if (peer.session !== null) this.host.end(peer.session, 'peer_disconnected');
      else this.forget(peer);
    }
    for (const [l, join] of [...this.pending])
      if (join.owner === instance) this.settle(l, 'otc_not_found');
  }

  /** After an outage: writes back the claim of every session whose target is here. */
  async reclaim(): Promise<void> {
    const now = Date.now();
    const owned = [...this.owned];
    const results = await Promise.all(
      owned.map(([key, session]) => this.claims.claim(key, session.expiresAt - now)),
    );
    results.forEach((won, i) => {
      const [key, session] = owned[i] as [string, Session];
      // Another instance took the code meanwhile: never two winners.
      if (!won && this.owned.get(key) === session) this.host.claimLost(session);
    });
    await this.claims.retryReleases();
  }

  /** Shutdown, after the core ended every session: nothing may wait on this instance. */
  close(): void {
    for (const l of [...this.pending.keys()]) {
      const join = this.pending.get(l) as PendingJoin;
      this.bus.tell(join.owner, { t: 'end', l, r: 'peer_disconnected' });
      this.settle(l, 'unavailable');
    }
    for (const peer of [...this.peers.values()]) this.lost(peer);
    this.owned.clear();
  }

  private lost(peer: RemotePeer): void {
    if (peer.session !== null) this.host.end(peer.session, 'peer_disconnected', peer);
    else this.forget(peer);
  }

  private take(l: string): PendingJoin | undefined {
    const join = this.pending.get(l);
    if (join === undefined) return undefined;
    this.pending.delete(l);
    clearTimeout(join.timer);
    return join;
  }

  private settle(l: string, outcome: Outcome): void {
    this.take(l)?.resolve(outcome);
  }
}
