import { isatty } from 'node:tty';
import { pino, type DestinationStream } from 'pino';
import type { LogFormat, Logger, LogLevel } from '../config/options.js';

export type { Logger } from '../config/options.js';

/**
 * Field names that carry, or could one day carry, a pairing code, a jti, a
 * token, a key or a payload: the wire's own names and the obvious others.
 * Call sites log only counts, ids, durations and reasons; this is the net
 * under them, for a field added later or an object logged whole, one level
 * down too (`{ frame: { otc } }`, `{ headers: { authorization } }`), and a
 * request's.
 */
const SECRET_FIELDS = [
  'otc',
  'jti',
  'token',
  'accessToken',
  'payload',
  'key',
  'targetPubKey',
  'publicKey',
  'controllerPubKey',
  'authorization',
  'cookie',
];
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
  // A pairing code as `code` at the top; nested, `code` is an error's
  // (`err.code` EADDRINUSE, the wire's `{"type":"error","code":...}`) and stays.
  'code',
  // An upgrade carries its access token in Authorization or in ?token=.
  'req.url',
  'req.headers.authorization',
  'req.headers.cookie',
];

/**
 * The CLI's logger, and the relay's when no `logger` option is given: pino,
 * JSON lines on stdout (level, time, pid, hostname, name, fields, msg), or
 * pino-pretty's lines when asked for or, with `auto`, when stdout is a
 * terminal. pino-pretty is loaded only then.
 *
 * Both write synchronously: the relay logs lifecycle, not traffic, and the
 * CLI calls process.exit() right after the drain's last lines ("drain window
 * over", "stopped"), which must land, in order.
 */
export async function createLogger(
  level: LogLevel,
  logFormat: LogFormat = 'json',
): Promise<Logger> {
  // isatty(1), not process.stdout.isTTY: the logger writes to fd 1 itself, and
  // process.stdout is a stream made at first touch (~0.6 ms of start, Node and Bun).
  const pretty = logFormat === 'pretty' || (logFormat === 'auto' && isatty(1));
  const destination: DestinationStream = pretty
    ? (await import('pino-pretty')).default({
        destination: 1,
        sync: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
      })
    : pino.destination({ dest: 1, sync: true });
  // <never>: no custom levels (else its type would index every name, `then` included).
  return pino<never>(
    { level, name: 'pairing-relay', redact: { paths: [...REDACTED_PATHS] } },
    destination,
  );
}
