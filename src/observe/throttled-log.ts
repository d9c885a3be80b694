import type { Logger } from './logger.js';

/** One key logged again for the same message after this long, with how many it skipped. */
const REPEAT_MS = 10_000;
/** Addresses remembered at once; past this the oldest is forgotten (and may be logged again). */
const MAX_KEYS = 10_000;

interface Seen {
  at: number;
  skipped: number;
}

/**
 * Warnings whose rate someone else sets. Rate-limit and cap refusals name
 * the client address (an operator needs it there), but a client decides
 * how often it is refused: one socket can send thousands of connects a
 * second. A Redis that is away fails every retry, in words that change
 * (read or write ECONNRESET, "after 700ms"). Each message is logged once
 * per REPEAT_MS for each key (the client address, or none), the next line
 * saying how many were skipped, so the log grows with the number of
 * addresses, not of frames or retries.
 */
export class ThrottledLog {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** `client` undefined: no address to name (a full relay, Redis away), once per while too. */
  warn(client: string | undefined, fields: Record<string, unknown>, msg: string): void {
    const now = this.now();
    const id = `${msg}\u0000${client ?? ''}`;
    const seen = this.seen.get(id);
    if (seen !== undefined && now - seen.at < REPEAT_MS) {
      seen.skipped++;
      return;
    }
    // Re-inserted, so the Map's order stays oldest first.
    this.seen.delete(id);
    if (this.seen.size >= MAX_KEYS) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(id, { at: now, skipped: 0 });
    const line: Record<string, unknown> =
      client === undefined ? { ...fields } : { client, ...fields };
    if (seen !== undefined && seen.skipped > 0) line['skipped'] = seen.skipped;
    this.log.warn(line, msg);
  }

  clear(): void {
    this.seen.clear();
  }
}
