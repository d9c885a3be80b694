import { Writable } from 'node:stream';
import { pino } from 'pino';

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
