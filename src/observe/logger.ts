import { HOST_NAME, stdoutIsTerminal, writeFd } from './stdio.js';
import type { LogFormat, Logger, LogFn, LogLevel } from '../config/options.js';

export type { Logger } from '../config/options.js';
import { prettyLine } from './log-pretty.js';

const LEVELS: Record<Exclude<LogLevel, 'silent'>, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};

const noop: LogFn = () => undefined;

function value(v: unknown): unknown {
  return v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v;
}

/**
 * JSON lines on stdout in pino's format (level, time, pid, hostname, name,
 * fields, msg). Built in rather than pino: pino's load is most of a cold
 * start under Bun (~50 ms of ~80), and the relay writes a few lifecycle lines.
 * Call sites pass only counts, ids, durations and reasons: codes, jtis,
 * tokens, keys and payloads never reach a log call.
 */
export async function createLogger(
  level: LogLevel,
  logFormat: LogFormat = 'json',
): Promise<Logger> {
  const format = logFormat === 'auto' ? (stdoutIsTerminal() ? 'pretty' : 'json') : logFormat;
  const threshold = level === 'silent' ? Infinity : LEVELS[level];
  const head = `,"pid":${process.pid},"hostname":${JSON.stringify(HOST_NAME)},"name":"pairing-relay"`;
  const at = (n: number): LogFn => {
    if (n < threshold) return noop;
    if (format === 'pretty') {
      return ((a: object | string, b?: string) => {
        const fields = typeof a === 'object' && a !== null ? a : undefined;
        writeFd(1, prettyLine(n, Date.now(), fields, typeof a === 'string' ? a : b));
      }) as LogFn;
    }
    return ((a: object | string, b?: string) => {
      let line = `{"level":${n},"time":${Date.now()}${head}`;
      const msg = typeof a === 'string' ? a : b;
      if (typeof a === 'object' && a !== null) {
        for (const [k, v] of Object.entries(a)) {
          if (v !== undefined) line += `,${JSON.stringify(k)}:${JSON.stringify(value(v))}`;
        }
      }
      if (msg !== undefined) line += `,"msg":${JSON.stringify(msg)}`;
      // Synchronous: the relay logs lifecycle, not traffic, and the last lines
      // before a signal's exit (drain, stopped) must land, in order.
      writeFd(1, line + '}\n');
    }) as LogFn;
  };
  return {
    level,
    fatal: at(60),
    error: at(50),
    warn: at(40),
    info: at(30),
    debug: at(20),
    trace: at(10),
  };
}
