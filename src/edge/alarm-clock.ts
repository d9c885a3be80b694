import type { Clock, DeadlineKind, Timer } from '../core/clock.js';
import { usage } from './usage.js';
import type { DurableObjectStorage } from './workers-api.js';

interface Deadline {
  readonly what: DeadlineKind;
  readonly at: number;
  readonly fire: () => void;
}

/**
 * The core's clock seam (core/clock.ts) on a Durable Object's one alarm:
 * deadlines are kept in memory, the alarm is set to the earliest, and the
 * object's alarm() handler calls ring(). The alarm outlives the object's
 * eviction; the deadlines are re-registered from the sockets' attachments
 * with restore() when the object is rebuilt, so nothing is written to
 * storage but the alarm itself.
 */
export class AlarmClock implements Clock {
  private readonly pending = new Set<Deadline>();
  /** The alarm as set in storage (null: none). */
  private armed: number | null = null;
  private dirty = false;

  constructor(private readonly storage: DurableObjectStorage) {}

  now(): number {
    return Date.now();
  }

  schedule(what: DeadlineKind, at: number, fire: () => void): Timer {
    const deadline: Deadline = { what, at, fire };
    this.pending.add(deadline);
    this.rearm();
    return deadline as unknown as Timer;
  }

  cancel(timer: Timer): void {
    if (this.pending.delete(timer as unknown as Deadline)) this.rearm();
  }

  /** A deadline that was scheduled before the object was evicted: its alarm is already set. */
  restore(what: DeadlineKind, at: number, fire: () => void): Timer {
    const deadline: Deadline = { what, at, fire };
    this.pending.add(deadline);
    this.armed = Math.min(this.armed ?? at, at);
    return deadline as unknown as Timer;
  }

  /** The alarm went off: every deadline due fires, and the alarm moves to the next one. */
  ring(): void {
    // Set by the runtime's alarm, which has now fired.
    this.armed = null;
    const now = Date.now();
    for (const deadline of [...this.pending]) {
      if (deadline.at > now) continue;
      this.pending.delete(deadline);
      deadline.fire();
    }
    this.rearm();
  }

  /** Deadlines that are waiting. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Moves the alarm once per turn, however many deadlines changed in it: a
   * pairing cancels the waiting TTL and sets the paired one, one write.
   */
  private rearm(): void {
    if (this.dirty) return;
    this.dirty = true;
    queueMicrotask(this.write);
  }

  private readonly write = (): void => {
    this.dirty = false;
    let next: number | null = null;
    for (const { at } of this.pending) next = next === null ? at : Math.min(next, at);
    if (next === this.armed) return;
    this.armed = next;
    usage.storageWrites++;
    // The object's output gate holds its replies until these are written.
    (next === null ? this.storage.deleteAlarm() : this.storage.setAlarm(next)).catch(this.unknown);
  };

  /** A write that failed leaves the alarm unknown: the next change writes it again. */
  private readonly unknown = (): void => {
    this.armed = Number.NaN;
  };
}
