import { Writable } from 'node:stream';
import { pino } from 'pino';
import { eventually } from './relay.js';

export interface CapturedLog {
  logger: pino.Logger;
  /** Everything written so far. */
  text(): string;
  /** Each line, parsed. */
  lines(): Array<Record<string, unknown>>;
}

/** A pino logger whose JSON lines the test reads back. */
export function captureLog(level: pino.LevelWithSilent): CapturedLog {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk.toString());
      done();
    },
  });
  const text = (): string => out.join('');
  return {
    logger: pino({ level }, sink),
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/**
 * The first line with this message, once it is there: a relay in another
 * process (Bun) writes its lines across a pipe.
 */
export async function lineWith(log: CapturedLog, msg: string): Promise<Record<string, unknown>> {
  const find = (): Record<string, unknown> | undefined => log.lines().find((l) => l['msg'] === msg);
  await eventually(() => find() !== undefined, 5_000);
  return find() as Record<string, unknown>;
}
