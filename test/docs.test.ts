// Transport-independent: it reads README.md and docs/, and runs the README's library snippet with Node.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
const run = promisify(execFile);

async function markdownFiles(): Promise<string[]> {
  const { stdout } = await run('git', ['ls-files', '-z', '*.md'], { cwd: ROOT });
  return stdout.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

describe('README and docs', () => {
  let tmp = '';
  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('every relative link in the docs points at a file that exists', async () => {
    const files = await markdownFiles();
    expect(files).toContain('README.md');
    const dangling: string[] = [];
    for (const file of files) {
      for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target === undefined || /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#'))
          continue;
        const path = normalize(join(dirname(file), target.split('#')[0]!));
        if (!existsSync(join(ROOT, path))) dangling.push(`${file}: ${target}`);
      }
      // Files of the project's own making that users do not have.
      if (/seeds\/|PROTOCOL\.md/.test(read(file))) dangling.push(`${file}: a seed file`);
    }
    expect(dangling).toEqual([]);
  });

  it('the first screen: the real banner address, Bun really on Bun, where one-liners work', () => {
    const readme = read('README.md');
    const firstScreen = readme.slice(0, readme.indexOf('\n## '));
    expect(firstScreen).toContain('npm ci && npm start');
    expect(firstScreen).toContain('npm ci && npm test');
    // What the CLI's banner prints for the default bind (0.0.0.0 is reachable on loopback).
    expect(firstScreen).toContain('ws://127.0.0.1:3001/ws');
    expect(firstScreen).not.toMatch(/ws:\/\/0\.0\.0\.0/);
    expect(firstScreen).toMatch(/bunx --bun pairing-relay/);
    expect(firstScreen).not.toMatch(/bunx pairing-relay/);
    expect(firstScreen).toMatch(/published package/);
    expect(firstScreen).toMatch(/node dist\/cli\.js/);
    expect(firstScreen).toMatch(/ESM only/);
    // The bin stays a Node script: a Bun shebang would break npx.
    expect(read('src/cli.ts').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it("the README's library snippet runs in a CommonJS project", async () => {
    const readme = read('README.md');
    const snippet = [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
      .map((m) => m[1] ?? '')
      .find((code) => code.includes("import('pairing-relay')"));
    expect(snippet).toBeDefined();
    tmp = await mkdtemp(join(tmpdir(), 'pairing-relay-readme-'));
    await mkdir(join(tmp, 'node_modules'));
    // The package as installed: `npm test` has built dist/.
    await symlink(ROOT, join(tmp, 'node_modules', 'pairing-relay'), 'dir');
    await writeFile(join(tmp, 'package.json'), JSON.stringify({ type: 'commonjs' }));
    const code = snippet!
      .replace('port: 3001', "port: 0, host: '127.0.0.1', logLevel: 'silent'")
      // Printed once its SIGTERM handler is in place.
      .replace(/(process\.once\('SIGTERM'.*)$/m, '$1\n  console.log(url);');
    expect(code).toContain('console.log(url)');
    await writeFile(join(tmp, 'snippet.js'), code);
    const child = spawn(process.execPath, [join(tmp, 'snippet.js')], {
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /ws:\/\/127\.0\.0\.1:\d+\/ws/.exec(out);
        if (m !== null) resolve(m[0]);
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
