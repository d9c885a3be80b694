import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/**
 * JSON lines on stdout. Call sites pass only counts, ids, durations and
 * reasons: codes, jtis, tokens, keys and payloads never reach a log call.
 */
export function createLogger(level: LogLevel): Logger {
  // Synchronous writes: the relay logs lifecycle, not traffic, and the last
  // lines before a signal's exit (drain, stopped) must land, in order.
  return pino({ name: 'pairing-relay', level }, pino.destination({ dest: 1, sync: true }));
}
