// Transport-independent: it reads the test files, the registry and package.json; no socket.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import config from '../vitest.config.js';
import { excludedFor, onceReason, source, suiteFiles } from './helpers/suite-files.js';
import {
  CAPABILITIES,
  ONCE,
  TRANSPORTS,
  TRANSPORT_VARIABLE,
  selectedTransport,
  type Transport,
  type TransportName,
} from './helpers/transports.js';

// The guard for "one suite, every transport": a test file that opens sockets
// runs under every registered transport unless it says why not, and nothing
// skips by a transport's name.

const NAMES = Object.keys(TRANSPORTS) as TransportName[];
const files = suiteFiles().map((file) => ({ file, text: source(file) }));

/** Relays, clients, raw sockets: what makes a file depend on the transport. */
const OPENS_SOCKETS =
  /\b(?:startRelay|startRelayProcess|wsConnect|pair|upgradeStatus|createRelayServer)\(|from 'ws'|from 'node:net'/;
/** Ways to pick tests by transport name, or to reach a transport without the registry. */
const BY_NAME =
  /\bonBun\b|RELAY_TEST_(?:RUNTIME|TRANSPORT)|transport\.name\b|bun-relay\.js|bun-host/;
const SKIP = /\.skipIf\(|\.runIf\(|\bskip\(|\.skip\b/;

describe('one suite, every transport', () => {
  it('finds the suite, and sockets in it', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.find((f) => f.file === 'test/protocol.test.ts')?.text).toMatch(OPENS_SOCKETS);
    expect(files.find((f) => f.file === 'test/wire.test.ts')?.text).not.toMatch(OPENS_SOCKETS);
  });

  it('a file that opens sockets runs under every transport, or its header says why it runs once', () => {
    for (const { file, text } of files) {
      const reason = onceReason(text);
      for (const name of NAMES) {
        const runs = !excludedFor(name).includes(file);
        if (runs || !OPENS_SOCKETS.test(text)) continue;
        // Left out of this transport's run: only a file marked transport-independent, with a reason.
        expect(reason, `${file} opens sockets but is not run under ${name}`).toMatch(/\w+ \w+ \w+/);
      }
      if (reason !== undefined) expect(reason, file).toMatch(/\w+ \w+ \w+/);
    }
    expect(excludedFor(ONCE)).toEqual([]);
  });

  it('vitest.config.ts leaves out exactly what the suite files say, for this run', () => {
    const exclude = config.test?.exclude ?? [];
    const left = exclude.filter((p) => p.startsWith('test/') && p.endsWith('.test.ts'));
    expect(left).toEqual(excludedFor(selectedTransport()));
  });

  it('every transport has a run in `npm test`, and no run lists files', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['test']).toMatch(/&& vitest run &&/);
    for (const name of NAMES.filter((n) => n !== ONCE)) {
      expect(pkg.scripts[`test:${name}`], name).toBe(`${TRANSPORT_VARIABLE}=${name} vitest run`);
      expect(pkg.scripts['test'], name).toContain(`npm run test:${name}`);
    }
  });

  it('no test file picks tests by transport name', () => {
    for (const { file, text } of files) {
      if (file === 'test/suite.test.ts') continue;
      expect(BY_NAME.exec(text)?.[0], `${file}: skip by capability instead`).toBeUndefined();
    }
  });

  it('every skip by capability names a known one and says what the test needs', () => {
    for (const { file, text } of files) {
      const lines = text.split('\n');
      lines.forEach((line, i) => {
        for (const [, capability] of line.matchAll(/transport\.has\('(\w+)'\)/g)) {
          expect(Object.keys(CAPABILITIES), `${file}:${i + 1}`).toContain(capability);
        }
        // A conditional assertion (`if (transport.has(...))`) is not a skip.
        if (!line.includes('transport.has(') || !SKIP.test(line)) return;
        // The title "(needs ...)", the skip note "needs ...", or a comment just above.
        const around = lines.slice(Math.max(0, i - 2), i + 3).join('\n');
        expect(around, `${file}:${i + 1} skips without saying what it needs`).toMatch(/\bneeds\b/i);
      });
    }
  });

  it('the registry is coherent: a CLI has a command, signals come with a CLI', () => {
    for (const [name, entry] of Object.entries(TRANSPORTS) as Array<[string, Transport]>) {
      const has = new Set(entry.capabilities);
      expect(entry.cli !== undefined, name).toBe(has.has('cli'));
      if (has.has('signals')) expect(has.has('cli'), name).toBe(true);
    }
  });
});
