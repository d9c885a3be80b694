import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  DEFAULTS,
  SETTINGS,
  checkOption,
  isOptionError,
  type OptionError,
  type OptionSources,
  type RelayOptions,
  type Setting,
  type TunableKey,
} from './options.js';

/** A configuration mistake; the message names the flag or variable at fault. */
export class ConfigError extends Error {
  /** The setting at fault; undefined for a mistake in the command line itself. */
  readonly option: TunableKey | undefined;

  constructor(message: string, option?: TunableKey) {
    super(message);
    this.option = option;
  }
}

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  /** `sources`: for each setting, the flag or variable it came from, or both names when unset. */
  | { kind: 'run'; options: RelayOptions; sources: OptionSources };

const TRUE = new Set(['1', 'true', 'yes']);
const FALSE = new Set(['0', 'false', 'no']);

/** argv + environment → relay options. Flags win over variables, variables over defaults. */
export function parseCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CliCommand {
  const config: ParseArgsConfig['options'] = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const setting of SETTINGS) {
    // argv shows in `ps`: secrets come from the environment or a file only.
    if (setting.secret) continue;
    const name = setting.flag.slice(2);
    config[name] = { type: setting.kind === 'bool' ? 'boolean' : 'string' };
    // parseArgs has no negation; --no-<flag> lets a flag turn off what a variable turned on.
    if (setting.kind === 'bool') config[`no-${name}`] = { type: 'boolean' };
  }
  let values: Record<string, string | boolean | undefined> = {};
  if (argv.length > 0) {
    try {
      values = parseArgs({
        args: [...argv],
        options: config,
        strict: true,
        allowPositionals: false,
      }).values as Record<string, string | boolean | undefined>;
    } catch (err) {
      throw new ConfigError(`${(err as Error).message}\nRun with --help to see every option.`);
    }
  }
  if (values['help'] === true) return { kind: 'help' };
  if (values['version'] === true) return { kind: 'version' };

  const options: Record<string, unknown> = {};
  const sources: OptionSources = {};
  for (const setting of SETTINGS) {
    sources[setting.key] = bothNames(setting);
    if (setting.secret) {
      const value = secretValue(setting, env);
      if (value !== undefined) {
        options[setting.key] = typed(setting, value.raw, value.source);
        sources[setting.key] = value.source;
      }
      continue;
    }
    const name = setting.flag.slice(2);
    if (values[name] === true && values[`no-${name}`] === true) {
      throw new ConfigError(`${setting.flag} and --no-${name} contradict each other`, setting.key);
    }
    const flagValue = values[`no-${name}`] === true ? false : values[name];
    const envValue = env[setting.env];
    if (flagValue !== undefined) {
      options[setting.key] = typed(setting, flagValue, setting.flag);
      sources[setting.key] = setting.flag;
    } else if (envValue !== undefined && envValue.trim() !== '') {
      options[setting.key] = typed(setting, envValue.trim(), setting.env);
      sources[setting.key] = setting.env;
    }
  }
  return { kind: 'run', options: options as RelayOptions, sources };
}

/** How a CLI user can set a setting they have not set. */
function bothNames(setting: Setting): string {
  return setting.secret
    ? `${setting.env} (or ${setting.fileEnv})`
    : `${setting.flag} / ${setting.env}`;
}

/**
 * A secret from its variable or from the file `<VARIABLE>_FILE` names (one
 * trailing newline dropped, as editors and `echo` leave one). Both set is a
 * mistake: which one would win is a guess. Messages never quote the value.
 */
export function secretValue(
  setting: Setting,
  env: Readonly<Record<string, string | undefined>>,
): { raw: string; source: string } | undefined {
  const direct = env[setting.env];
  const file = setting.fileEnv === undefined ? undefined : env[setting.fileEnv];
  const hasDirect = direct !== undefined && direct.trim() !== '';
  const hasFile = file !== undefined && file.trim() !== '';
  if (hasDirect && hasFile) {
    throw new ConfigError(
      `${setting.env} and ${setting.fileEnv} are both set: set one of them`,
      setting.key,
    );
  }
  if (hasDirect) return { raw: direct.trim(), source: setting.env };
  if (!hasFile || setting.fileEnv === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file.trim(), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(
      `${setting.fileEnv}: cannot read the file it names (${code})`,
      setting.key,
    );
  }
  const raw = text.replace(/\r?\n$/, '');
  if (raw.trim() === '') {
    throw new ConfigError(`${setting.fileEnv} names an empty file`, setting.key);
  }
  return { raw: raw.trim(), source: setting.fileEnv };
}

/** Text to a typed value, then the library's own check, so the CLI accepts exactly what the API does. */
function typed(setting: Setting, raw: string | boolean, source: string): unknown {
  const value = fromText(setting, raw, source);
  try {
    checkOption(setting.key, value);
  } catch (err) {
    if (!isOptionError(err)) throw err;
    throw new ConfigError(`${source} ${err.problem}`, setting.key);
  }
  return value;
}

function fromText(setting: Setting, raw: string | boolean, source: string): unknown {
  if (typeof raw === 'boolean') return raw;
  switch (setting.kind) {
    case 'int':
      // Anything but plain digits ("1e3", "0x10") stays a string for checkOption to refuse.
      return /^[0-9]+$/.test(raw) ? Number(raw) : raw;
    case 'bool':
      if (TRUE.has(raw.toLowerCase())) return true;
      if (FALSE.has(raw.toLowerCase())) return false;
      throw new ConfigError(
        `${source} must be 1/true/yes or 0/false/no, got ${JSON.stringify(raw)}`,
        setting.key,
      );
    case 'tokens':
      // A comma list; blanks (a trailing comma, spaces) are not tokens.
      return raw
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
    default:
      return raw;
  }
}

/**
 * Names what the user set (or, when unset, can set: flag and variable), for
 * an error from `createRelayServer()`.
 */
export function describeOptionError(err: OptionError, sources: OptionSources = {}): string {
  const setting = SETTINGS.find((s) => s.key === err.option);
  if (setting === undefined) return err.message;
  return `${sources[err.option] ?? bothNames(setting)} ${err.problem}`;
}

export function helpText(version: string): string {
  const flags = SETTINGS.map((s) =>
    s.secret
      ? `(no flag: ${s.fileEnv} for a file)`
      : s.kind === 'bool'
        ? `${s.flag}, --no-${s.flag.slice(2)}`
        : `${s.flag} <value>`,
  );
  // The variables in one column, however long the longest flag.
  const width = Math.max(...flags.map((f) => f.length));
  const rows = SETTINGS.map(
    (s, i) =>
      `  ${(flags[i] as string).padEnd(width)} ${s.env}\n      ${s.description} (default: ${defaultText(s)})`,
  );
  return [
    `pairing-relay ${version}: short-lived WebSocket pairing relay (amesh-compatible)`,
    '',
    'Usage: pairing-relay [options]',
    '       pairing-relay check <ws(s)://host[:port]/ws> [--json] [--hold <s>] [--token <t>]',
    '         probes a deployed relay: DNS, TCP, TLS, /health, /ready, the upgrade, a',
    '         pairing, idle cuts, client addresses (pairing-relay check --help)',
    '',
    'Every option can also be set by the environment variable shown; a flag wins.',
    'Secrets have no flag (argv shows in ps): set the variable, or <VARIABLE>_FILE to a file.',
    '',
    ...rows,
    `  ${'-h, --help'.padEnd(width)} show this help`,
    `  ${'-v, --version'.padEnd(width)} print the version`,
    '',
    'Endpoints: GET /health, GET /ready, WebSocket /ws',
  ].join('\n');
}

export function defaultText(setting: Setting): string {
  if (setting.shownDefault !== undefined) return setting.shownDefault;
  const value = DEFAULTS[setting.key];
  return value === '' ? 'none' : String(value);
}
