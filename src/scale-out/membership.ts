import type { Logger } from '../observe/logger.js';
import type { ClusterStatus, StoreState } from '../observe/cluster-status.js';
import type { Bus } from './bus.js';
import { SecretCheck } from './secret-check.js';
import { LimiterCheck } from './limiter-check.js';
import type { SharedStore } from './shared-store.js';

/** A part of the cluster that holds work shared with other instances. */
export interface MemberPart {
  instances(): Set<string>;
  instanceDead(instance: string): void;
  /** Writes back this instance's claims; rejects if Redis could not take them all. */
  reclaim(): Promise<void>;
}

export interface MembershipOptions {
  timeoutMs: number;
  /** An instance unheard this long is taken for dead. */
  peerTimeoutMs: number;
}

/** Waits for `promise` at most `ms`; never rejects. */
async function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([promise.catch(() => undefined), timeout]);
  clearTimeout(timer);
}

// Own pings unseen for this many probes: the subscription is stalled; reconnect it.
const MISSED_PINGS = 3;

/**
 * This instance's standing in the cluster, kept true whatever the order in
 * which things start or fail: one probe on a timer refreshes the presence
 * key (its answer time tells a slow or silent Redis), checks that a ping to
 * our own channel comes back (the subscription really delivers), writes
 * claims back after any outage, and ends work shared with instances whose
 * presence key is gone.
 */
export class Membership {
  private store: StoreState = 'unreachable';
  private subscribed = false;
  private everSubscribed = false;
  /** When the SUBSCRIBE still unanswered was sent (0: none in flight). */
  private subscribing = 0;
  private pingSent = 0;
  private pingSeen = 0;
  private missed = 0;
  private reclaimed = false;
  /** Since when every probe succeeded (null: the last one failed). */
  private reachableSince: number | null = null;
  private lastPresence = 0;
  private lapsed = false;
  private ticking = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;
  private readonly secretCheck: SecretCheck;
  private readonly limiterCheck: LimiterCheck;

  constructor(
    private readonly redis: SharedStore,
    private readonly bus: Bus,
    private readonly parts: readonly MemberPart[],
    private readonly opts: MembershipOptions,
    private readonly log: Logger,
    private readonly onMessage: (text: string) => void,
  ) {
    // A dead peer is noticed within peerTimeout + one interval.
    this.intervalMs = Math.max(100, Math.min(500, Math.floor(opts.peerTimeoutMs / 6)));
    this.secretCheck = new SecretCheck(redis, log);
    this.limiterCheck = new LimiterCheck(redis, log);
  }

  status(): ClusterStatus {
    const { command, subscriber } = this.redis;
    const connected = command.status === 'ready' && subscriber.status === 'ready';
    const confirmed = this.subscribed && this.pingSeen > 0 && this.missed < 2;
    return {
      // A dropped connection is known at once; a silent one shows at the next probe.
      store: connected ? this.store : 'unreachable',
      membership: !confirmed ? 'unsubscribed' : !this.reclaimed ? 'reclaiming' : 'ok',
      secret: this.secretCheck.foreignSecrets > 0 ? 'secret_mismatch' : 'ok',
      foreignSecrets: this.secretCheck.foreignSecrets,
    };
  }

  /** Connects; resolves once fully in the cluster, or after `waitMs` (then keeps trying). */
  async start(waitMs: number): Promise<void> {
    const { command, subscriber } = this.redis;
    this.redis.onMessage((text) => this.onMessage(text));
    // Whatever the boot order or the outage, every connect subscribes afresh.
    subscriber.on('ready', () => this.subscribe());
    subscriber.on('close', () => {
      this.subscribed = false;
      this.subscribing = 0;
      this.pingSeen = 0;
    });
    command.on('ready', () => void this.tick());
    command.on('close', () => {
      this.reclaimed = false;
      this.limiterCheck.reset();
    });
    for (const client of [command, subscriber]) client.connect().catch(() => undefined);
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    const deadline = Date.now() + waitMs;
    // Ends early on close(), which clears the timer.
    while (Date.now() < deadline && this.timer !== null && this.status().membership !== 'ok') {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Our own ping came back through the channel. */
  pinged(n: number): void {
    if (n > this.pingSeen) this.pingSeen = n;
    this.missed = 0;
  }

  async close(): Promise<void> {
    const started = this.timer !== null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const { command, subscriber } = this.redis;
    if (started && command.status === 'ready') {
      // Leave at once rather than after the presence key's TTL.
      await command.del(this.redis.presenceKey(this.bus.self)).catch(() => undefined);
    }
    // QUIT flushes what is queued (the last messages to other instances), but a
    // silent Redis must not hold up a shutdown: bounded, then cut.
    await Promise.all(
      [command, subscriber].map(async (client) => {
        if (client.status === 'ready') await bounded(client.quit(), this.opts.timeoutMs);
        client.disconnect();
      }),
    );
  }

  private subscribe(): void {
    const sent = Date.now();
    this.subscribing = sent;
    this.redis.subscribe(this.redis.channel(this.bus.self)).then(
      () => {
        if (this.subscribing === sent) this.subscribing = 0;
        this.subscribed = true;
        // Pub/sub keeps nothing for a subscriber that was away (a failover, a
        // slot move, a reconnect): what other instances sent meanwhile is
        // lost, so the sessions shared with them end now rather than hang.
        if (this.everSubscribed)
          this.endShared('resubscribed: sessions shared with other instances end');
        this.everSubscribed = true;
        this.ping();
      },
      (err: Error) => {
        if (this.subscribing === sent) this.subscribing = 0;
        this.subscribed = false;
        this.log.debug({ err: err.message }, 'subscribe failed');
      },
    );
  }

  private endShared(why: string): void {
    let ended = 0;
    for (const part of this.parts) {
      for (const id of part.instances()) {
        part.instanceDead(id);
        ended++;
      }
    }
    if (ended > 0) this.log.warn(why);
  }

  private ping(): void {
    const n = ++this.pingSent;
    this.bus.send(this.bus.self, { t: 'ping', n }).then(
      (heard) => {
        // Redis has no subscription for our channel, whatever ioredis thinks.
        if (heard === 0 && this.redis.subscriber.status === 'ready') this.subscribe();
      },
      () => undefined,
    );
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.timer === null) return;
    this.ticking = true;
    try {
      if (!(await this.probe())) return;
      this.checkChannel();
      await this.secretCheck.maybeCheck().catch(() => undefined);
      await this.limiterCheck.maybeCheck();
      if (!this.reclaimed) await this.reclaim();
      await this.checkPeers();
    } finally {
      this.ticking = false;
    }
  }

  /** Refreshes our presence key; its answer (or none) within the timeout is the store's state. */
  private async probe(): Promise<boolean> {
    const { command } = this.redis;
    try {
      await command.set(this.redis.presenceKey(this.bus.self), '1', 'PX', this.opts.peerTimeoutMs);
    } catch {
      const wasOk = this.store === 'ok';
      this.store = command.status === 'ready' ? 'slow' : 'unreachable';
      this.reachableSince = null;
      if (wasOk) this.log.warn({ redis: this.store }, 'redis not answering in time');
      // A connection that looks ready but answers nothing (a hung or cut-off
      // Redis) would make every call wait out the timeout, one after another:
      // dropped, the calls fail at once until a new one is ready (and behind
      // Sentinel, the new one asks for the primary afresh). Not in Cluster
      // mode: one client spans every shard, and its slot map finds a hung
      // master's replica (connections.ts).
      if (this.store === 'slow' && this.redis.topology !== 'cluster') command.disconnect(true);
      if (!this.lapsed && Date.now() - this.lastPresence > this.opts.peerTimeoutMs) {
        // The others now take us for dead and end their side: end ours, and
        // write our claims back once we are heard again.
        this.lapsed = true;
        this.reclaimed = false;
        this.endShared('presence lapsed: sessions shared with other instances end');
      }
      return false;
    }
    const now = Date.now();
    if (this.store !== 'ok') this.log.info('redis answering in time');
    this.store = 'ok';
    this.lastPresence = now;
    this.lapsed = false;
    this.reachableSince ??= now;
    return true;
  }

  private checkChannel(): void {
    const { subscriber } = this.redis;
    if (!this.subscribed) {
      if (subscriber.status !== 'ready') return;
      if (this.subscribing === 0) return this.subscribe();
      // A SUBSCRIBE unanswered this long went into a silent connection: start over.
      if (Date.now() - this.subscribing > MISSED_PINGS * this.intervalMs) {
        this.subscribing = 0;
        subscriber.disconnect(true);
      }
      return;
    }
    if (this.pingSeen < this.pingSent) this.missed++;
    if (this.missed >= MISSED_PINGS) {
      this.log.warn('own channel silent: reconnecting the subscriber');
      this.missed = 0;
      this.subscribed = false;
      subscriber.disconnect(true);
      return;
    }
    this.ping();
  }

  private async reclaim(): Promise<void> {
    try {
      await Promise.all(this.parts.map((part) => part.reclaim()));
      this.reclaimed = true;
    } catch {
      // Next probe tries again; until then /ready says 'reclaiming'.
    }
  }

  private async checkPeers(): Promise<void> {
    // A store that just came back (a restart loses every key) has not yet
    // heard from the others: give them one presence TTL to refresh.
    const since = this.reachableSince;
    if (since === null || Date.now() - since < this.opts.peerTimeoutMs) return;
    const ids = new Set<string>();
    for (const part of this.parts) for (const id of part.instances()) ids.add(id);
    ids.delete(this.bus.self);
    if (ids.size === 0) return;
    const list = [...ids];
    let present: number[];
    try {
      // One key per call: presence keys sit in their instances' own slots.
      const { command } = this.redis;
      present = await Promise.all(list.map((id) => command.exists(this.redis.presenceKey(id))));
    } catch {
      return;
    }
    list.forEach((id, i) => {
      if (present[i] !== 0) return;
      this.log.warn('an instance sharing sessions with this one is gone');
      for (const part of this.parts) part.instanceDead(id);
    });
  }
}
