import { usage } from './usage.js';
import type { DurableObjectStorage } from './workers-api.js';

/**
 * A fixed-window count kept in a Durable Object's storage, as
 * rate-limiter-flexible's memory store counts (the window starts with the
 * first point and lasts windowMs): the object may be evicted between calls,
 * so the count cannot live in a field.
 */
interface Window {
  start: number;
  used: number;
}

export class WindowCount {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly name: string,
    private readonly windowMs: number,
  ) {}

  /** Points spent in the current window. */
  async used(now: number): Promise<number> {
    usage.storageReads++;
    const w = await this.storage.get<Window>(this.name);
    return w === undefined || now >= w.start + this.windowMs ? 0 : w.used;
  }

  /** Spends one point; the count after it. */
  async spend(now: number): Promise<number> {
    usage.storageReads++;
    usage.storageWrites++;
    const w = await this.storage.get<Window>(this.name);
    const next: Window =
      w === undefined || now >= w.start + this.windowMs
        ? { start: now, used: 1 }
        : { start: w.start, used: w.used + 1 };
    await this.storage.put(this.name, next);
    return next.used;
  }
}
