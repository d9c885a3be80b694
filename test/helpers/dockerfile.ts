import { readFileSync } from 'node:fs';

/**
 * A small, strict reader for the Dockerfile syntax that Dockerfile.relay uses:
 * comments, `\` line continuations, global ARGs before the first FROM, stages
 * (`FROM image AS name`), and the shell and exec (JSON array) forms. It is not a
 * general Dockerfile parser: anything it does not understand throws, so a
 * Dockerfile change the tests cannot follow fails loudly instead of passing.
 */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  /** The FROM image with global ARG defaults substituted. */
  image: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
  flags: Record<string, string>;
}

export function readDockerfile(path: string): Dockerfile {
  return parseDockerfile(readFileSync(path, 'utf8'));
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    // Comment lines are dropped, even in the middle of a continued instruction.
    if (trimmed.startsWith('#')) return;
    if (pending === '' && trimmed === '') return;
    if (pending === '') startLine = i + 1;
    if (trimmed.endsWith('\\')) {
      pending += trimmed.slice(0, -1) + ' ';
      return;
    }
    pending += trimmed;
    const match = /^(\S+)\s*(.*)$/s.exec(pending.trim());
    if (match === null) throw new Error(`Dockerfile line ${startLine}: cannot parse`);
    instructions.push({
      keyword: match[1]!.toUpperCase(),
      args: match[2]!.trim(),
      line: startLine,
    });
    pending = '';
  });
  if (pending !== '') throw new Error('Dockerfile ends inside a continued line');

  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (m === null) throw new Error(`Dockerfile line ${ins.line}: bad FROM`);
      const image = m[1]!.replace(/\$\{?(\w+)\}?/g, (_, name: string) => {
        const value = globalArgs[name];
        if (value === undefined) throw new Error(`FROM uses undefined ARG ${name}`);
        return value;
      });
      stages.push({ name: m[2], image, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile: ${ins.keyword} before FROM`);
      const [name, value] = splitOnce(ins.args, '=');
      globalArgs[name] = value ?? '';
      continue;
    }
    stage.instructions.push(ins);
  }
  return { globalArgs, stages };
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i === -1 ? [s, undefined] : [s.slice(0, i), s.slice(i + sep.length)];
}

export function stageNamed(file: Dockerfile, name: string): Stage {
  const stage = file.stages.find((s) => s.name === name);
  if (stage === undefined) throw new Error(`no stage named ${name}`);
  return stage;
}

export function finalStage(file: Dockerfile): Stage {
  const stage = file.stages.at(-1);
  if (stage === undefined) throw new Error('Dockerfile has no FROM');
  return stage;
}

export function all(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

export function only(stage: Stage, keyword: string): Instruction {
  const found = all(stage, keyword);
  if (found.length !== 1) {
    throw new Error(`expected one ${keyword} in stage ${stage.name}, found ${found.length}`);
  }
  return found[0]!;
}

/** The exec form `["a", "b"]` as an array; throws on the shell form. */
export function execForm(args: string): string[] {
  if (!args.startsWith('[')) throw new Error(`not exec form: ${args}`);
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`exec form must be an array of strings: ${args}`);
  }
  return parsed as string[];
}

/** Leading `--name=value` flags, then the rest. */
function flagsAndRest(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([\w-]+)(?:=(\S*))?\s+/.exec(rest);
    if (m === null) return { flags, rest };
    flags[m[1]!] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
}

export function parseCopy(ins: Instruction): Copy {
  const { flags, rest } = flagsAndRest(ins.args);
  const parts = rest.startsWith('[') ? execForm(rest) : rest.split(/\s+/);
  if (parts.length < 2) throw new Error(`COPY needs a source and a destination: ${ins.args}`);
  return { from: flags.from, sources: parts.slice(0, -1), dest: parts.at(-1)!, flags };
}

/** HEALTHCHECK options and its exec-form command. */
export function parseHealthcheck(ins: Instruction): {
  options: Record<string, string>;
  command: string[];
} {
  const { flags, rest } = flagsAndRest(ins.args);
  const m = /^CMD\s+(.*)$/s.exec(rest);
  if (m === null) throw new Error(`HEALTHCHECK without CMD: ${ins.args}`);
  return { options: flags, command: execForm(m[1]!.trim()) };
}

/** `ENV A=1 B=2` (or the legacy `ENV A 1`) as a record, later stages' values winning. */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of all(stage, 'ENV')) {
    if (!ins.args.includes('=')) {
      const [name, value] = splitOnce(ins.args, ' ');
      env[name] = (value ?? '').trim();
      continue;
    }
    for (const pair of ins.args.split(/\s+/)) {
      const [name, value] = splitOnce(pair, '=');
      if (value === undefined) throw new Error(`ENV pair without "=": ${pair}`);
      env[name] = value.replace(/^(["'])(.*)\1$/, '$2');
    }
  }
  return env;
}

/** The stage's WORKDIR (the last one), or "/" as Docker defaults to. */
export function workdir(stage: Stage): string {
  return all(stage, 'WORKDIR').at(-1)?.args ?? '/';
}

/**
 * Whether a build-context path is excluded by .dockerignore patterns. Supports
 * what .dockerignore files usually hold: `name`, `dir/sub`, `*` and `**` globs,
 * `!` exceptions; a pattern excluding a directory excludes everything under it.
 */
export function isDockerIgnored(path: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(
      '^' +
        pattern
          .split('**')
          .map((part) =>
            part
              .split('*')
              .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
              .join('[^/]*'),
          )
          .join('.*') +
        '(/.*)?$',
    );
    if (re.test(path)) ignored = !negate;
  }
  return ignored;
}
