/**
 * What kind of deadline a timer stands for. Every deadline the core sets is
 * one of these, so a runtime whose timers are not setTimeout (a Durable
 * Object's alarm, which survives the object being evicted) can tell them
 * apart, persist them as data, and re-arm them when it rebuilds the core.
 */
export type DeadlineKind =
  /** An unpaired session's TTL (one timer for all of them: core/expiry.ts). */
  | 'session_ttl'
  /** A paired session's TTL (likewise one timer for all). */
  | 'paired_ttl'
  /** A bootstrap watch's TTL. */
  | 'watch_ttl'
  /** A socket that holds nothing is closed. */
  | 'idle'
  /** A socket that did not answer our close frame is cut off. */
  | 'close_answer'
  /** The next heartbeat round over all sockets (re-set after each round). */
  | 'heartbeat';

declare const timerBrand: unique symbol;
/** A pending deadline, only ever handed back to the clock that made it. */
export type Timer = { readonly [timerBrand]: true };

/**
 * The core's one source of time: every deadline and every timestamp goes
 * through it. A deadline is data (what, and when on this clock's now());
 * `fire` is what to do then if this object still exists. Deadlines are
 * one-shot: repeating work (the heartbeat) sets the next one each time, so
 * a runtime with a single alarm maps them as easily as setTimeout does.
 */
export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Calls `fire` once, at `at` (or at once, if that has passed). */
  schedule(what: DeadlineKind, at: number, fire: () => void): Timer;
  /** The deadline is off; a timer already fired or cancelled is ignored. */
  cancel(timer: Timer): void;
}

/**
 * setTimeout and Date.now. The handle is the runtime's own timer object: a
 * deadline costs no object of ours.
 */
export const SYSTEM_CLOCK: Clock = {
  // Looked up at each call, so test fake timers that swap Date apply.
  now: () => Date.now(),
  schedule: (_what, at, fire) => setTimeout(fire, Math.max(0, at - Date.now())) as unknown as Timer,
  cancel: (timer) => clearTimeout(timer as unknown as ReturnType<typeof setTimeout>),
};
