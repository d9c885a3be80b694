/**
 * Short human lines for a terminal (`npx pairing-relay`):
 * `12:04:05.123 INFO  listening url=ws://127.0.0.1:3001/ws version=0.1.0`.
 * Built in, not pino-pretty: that pulls in a dozen modules (colorette,
 * dateformat, sonic-boom, ...) for lines the relay writes a handful of, and
 * the CLI's cold start is paid by the first pairing after scale-to-zero.
 */
const LABELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};

function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function shown(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

/** One log record as a terminal line (with its newline). */
export function prettyLine(
  level: number,
  timeMs: number,
  fields: object | undefined,
  msg: string | undefined,
): string {
  let line = `${clock(timeMs)} ${LABELS[level] ?? String(level)} ${msg ?? ''}`;
  if (fields !== undefined) {
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) line += ` ${k}=${shown(v)}`;
    }
  }
  return line + '\n';
}
