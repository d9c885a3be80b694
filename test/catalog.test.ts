// Transport-independent: the error catalog and the settings table, read in this process; no socket.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultText } from '../src/config/cli-options.js';
import { SETTINGS } from '../src/config/options.js';
import { BOOTSTRAP_REJECT_REASONS, ERROR_CODES } from '../src/protocol/errors.js';

const root = new URL('..', import.meta.url).pathname;
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

/** Error codes named in backticks in a markdown section (up to the next heading). */
function codesIn(markdown: string, heading: RegExp): Set<string> {
  const start = markdown.search(heading);
  expect(start, `section ${heading} not found`).toBeGreaterThanOrEqual(0);
  const rest = markdown.slice(start);
  const end = rest.slice(1).search(/\n#{1,3} /);
  const section = end === -1 ? rest : rest.slice(0, end + 1);
  return new Set([...section.matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string));
}

describe('error code catalog', () => {
  it("docs/protocol.md's contract lists exactly the codes the relay can send", () => {
    const md = read('docs/protocol.md');
    const listed = md.match(/Error codes:([\s\S]*?)A bad message/)?.[1] ?? '';
    const codes = [...listed.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
    expect(new Set(codes)).toEqual(new Set(ERROR_CODES));
  });

  it("docs/protocol.md's catalog lists exactly the codes the relay can send", () => {
    const listed = codesIn(read('docs/protocol.md'), /\n#+ Error codes/);
    expect(listed).toEqual(new Set(ERROR_CODES));
  });

  it('every code in the catalog is sent somewhere in src/, and no other code is', () => {
    const src = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('errors.ts'))
      .map((f) => read(join('src', f)))
      .join('\n');
    for (const code of ERROR_CODES) {
      expect(src.includes(`'${code}'`), `${code} is never sent`).toBe(true);
    }
    const sent = [...src.matchAll(/errorFrame\('([a-z_]+)'\)/g)].map((m) => m[1]);
    for (const code of sent) expect(ERROR_CODES).toContain(code);
    const rejects = [...src.matchAll(/rejectInit\(\w+, '([a-z_]+)'\)/g)].map((m) => m[1]);
    expect(new Set(rejects)).toEqual(new Set(BOOTSTRAP_REJECT_REASONS));
  });
});

describe('configuration table', () => {
  it('docs/configuration.md documents every flag, variable and default', () => {
    const page = read('docs/configuration.md');
    for (const s of SETTINGS) {
      const row = page
        .split('\n')
        .find((line) => line.startsWith('|') && line.includes(`| \`${s.env}\``));
      expect(row, `${s.flag} missing from docs/configuration.md`).toBeDefined();
      expect(row).toContain(`\`${s.env}\``);
      expect(row).toContain(`\`${defaultText(s)}\``);
    }
  });

  it("docs/configuration.md's options table is SETTINGS, row for row, in order", () => {
    const lines = read('docs/configuration.md').split('\n');
    const head = lines.findIndex((l) => /^\| flag +\| variable +\| default +\| meaning/.test(l));
    expect(head, 'options table not found').toBeGreaterThanOrEqual(0);
    const rows: string[][] = [];
    for (let i = head + 2; lines[i]?.startsWith('|') === true; i++) {
      rows.push(
        (lines[i] as string)
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    }
    expect(rows).toEqual(
      SETTINGS.map((s) => [
        s.secret ? `none: \`${s.fileEnv}\` for a file` : `\`${s.flag}\``,
        `\`${s.env}\``,
        `\`${defaultText(s)}\``,
        s.description,
      ]),
    );
  });
});
