import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ONCE, type TransportName } from './transports.js';

// Which test files a run includes. Every file runs under every transport,
// except one whose first lines (its header comment) say
//   // Transport-independent: <why it does not depend on the transport>
// which runs once, in the ONCE transport's run. vitest.config.ts excludes
// them from the other runs; test/suite.test.ts checks the reasons are given.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MARKER = /^\/\/ Transport-independent: (.*)$/m;

/**
 * The suite's test files, relative to the repository root: vitest.config.ts's
 * include, less test/container/ (its own config and run).
 */
export function suiteFiles(): string[] {
  return readdirSync(`${ROOT}test`, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts') && !f.startsWith('container/'))
    .map((f) => `test/${f}`)
    .sort();
}

export function source(file: string): string {
  return readFileSync(`${ROOT}${file}`, 'utf8');
}

/** The header comment: the leading run of `//` lines. */
function header(text: string): string {
  const lines = text.split('\n');
  const end = lines.findIndex((l) => !l.startsWith('//'));
  return lines.slice(0, end === -1 ? lines.length : end).join('\n');
}

/** Why `text` (a test file) runs once rather than per transport, or undefined if it runs per transport. */
export function onceReason(text: string): string | undefined {
  return MARKER.exec(header(text))?.[1]?.trim();
}

/** The files a run under `transport` leaves out: the transport-independent ones, outside the ONCE run. */
export function excludedFor(transport: TransportName): string[] {
  if (transport === ONCE) return [];
  return suiteFiles().filter((f) => onceReason(source(f)) !== undefined);
}
