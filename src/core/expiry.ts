import type { Clock, DeadlineKind, Timer } from './clock.js';

/** Something an ExpiryQueue can hold: it keeps its own place in the queue. */
export interface Expiring {
  expiresAt: number;
  /** The queue holding it, if any, and its slot there. */
  expiry: ExpiryQueue<Expiring> | null;
  slot: number;
}

// Slots already passed are dropped once they are most of the array.
const COMPACT_AFTER = 64;

/**
 * Deadlines that all lie one fixed TTL after they are set come due in the
 * order they were set, so one FIFO and one timer serve them all. A timer per
 * session costs a timer, a closure and its scope (three objects each, and
 * timer churn on every listen and pairing); this costs one array slot. An
 * item removed early frees its slot at once, so nothing ended is kept alive.
 * With it an idle paired session costs the core ~900 bytes of heap, both
 * clients included (Node 20), which test/budget.test.ts holds under 2,000.
 */
export class ExpiryQueue<T extends Expiring> {
  private items: Array<T | undefined> = [];
  private head = 0;
  private live = 0;
  private timer: Timer | null = null;

  constructor(
    private readonly clock: Clock,
    /** The one deadline kind this queue's timer stands for. */
    private readonly what: DeadlineKind,
    private readonly ttlMs: number,
    private readonly expire: (item: T) => void,
  ) {}

  get size(): number {
    return this.live;
  }

  /** `item` comes due ttlMs after `now` (taken out of any queue it was in). */
  add(item: T, now: number): void {
    (item.expiry as ExpiryQueue<T> | null)?.remove(item);
    item.expiresAt = now + this.ttlMs;
    item.expiry = this as unknown as ExpiryQueue<Expiring>;
    item.slot = this.items.length;
    this.items.push(item);
    this.live++;
    if (this.timer === null) this.arm(item.expiresAt);
  }

  remove(item: T): void {
    if (item.expiry !== (this as unknown as ExpiryQueue<Expiring>)) return;
    this.items[item.slot] = undefined;
    item.expiry = null;
    item.slot = -1;
    if (--this.live === 0) this.reset();
  }

  private arm(at: number): void {
    if (this.timer !== null) this.clock.cancel(this.timer);
    this.timer = this.clock.schedule(this.what, at, this.fire);
  }

  private readonly fire = (): void => {
    this.timer = null;
    const now = this.clock.now();
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      if (item === undefined) {
        this.head++;
        continue;
      }
      if (item.expiresAt > now) {
        this.arm(item.expiresAt);
        break;
      }
      this.items[this.head++] = undefined;
      item.expiry = null;
      item.slot = -1;
      this.live--;
      // May end or add other items, here or in another queue.
      this.expire(item);
    }
    this.compact();
  };

  private compact(): void {
    if (this.live === 0) return this.reset();
    if (this.head < COMPACT_AFTER || this.head * 2 < this.items.length) return;
    this.items = this.items.slice(this.head);
    this.head = 0;
    this.items.forEach((item, i) => {
      if (item !== undefined) item.slot = i;
    });
  }

  private reset(): void {
    if (this.timer !== null) this.clock.cancel(this.timer);
    this.timer = null;
    this.items = [];
    this.head = 0;
  }
}
