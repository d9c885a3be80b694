import { parseArgs, type ParseArgsConfig } from 'node:util';
import { compileTrust } from './client-address.js';
import {
  DEFAULTS,
  LOG_LEVELS,
  SETTINGS,
  type LogLevel,
  type RelayOptions,
  type Setting,
  type Tunables,
} from './config.js';

/** A configuration mistake; the message names the flag or variable at fault. */
export class ConfigError extends Error {}

export type CliCommand =
  { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: RelayOptions };

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
    const name = setting.flag.slice(2);
    config[name] = { type: setting.kind === 'bool' ? 'boolean' : 'string' };
    // parseArgs has no negation; --no-<flag> lets a flag turn off what a variable turned on.
    if (setting.kind === 'bool') config[`no-${name}`] = { type: 'boolean' };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: false })
      .values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\nRun with --help to see every option.`);
  }
  if (values['help'] === true) return { kind: 'help' };
  if (values['version'] === true) return { kind: 'version' };

  const options: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const name = setting.flag.slice(2);
    if (values[name] === true && values[`no-${name}`] === true) {
      throw new ConfigError(`${setting.flag} and --no-${name} contradict each other`);
    }
    const flagValue = values[`no-${name}`] === true ? false : values[name];
    const envValue = env[setting.env];
    if (flagValue !== undefined) {
      options[setting.key] = convert(setting, flagValue, setting.flag);
    } else if (envValue !== undefined && envValue.trim() !== '') {
      options[setting.key] = convert(setting, envValue.trim(), setting.env);
    }
  }
  return { kind: 'run', options: options as RelayOptions };
}

function convert(
  setting: Setting,
  raw: string | boolean,
  source: string,
): Tunables[keyof Tunables] {
  const fail = (expected: string): never => {
    throw new ConfigError(`invalid ${source} ${JSON.stringify(raw)}: expected ${expected}`);
  };
  switch (setting.kind) {
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (TRUE.has(raw.toLowerCase())) return true;
      if (FALSE.has(raw.toLowerCase())) return false;
      return fail('1/true/yes or 0/false/no');
    case 'int': {
      const range = `an integer from ${setting.min ?? 0} to ${setting.max}`;
      if (typeof raw !== 'string' || !/^[0-9]+$/.test(raw)) return fail(range);
      const n = Number(raw);
      if (n < (setting.min ?? 0) || n > (setting.max ?? Number.MAX_SAFE_INTEGER))
        return fail(range);
      return n;
    }
    case 'level':
      if (!LOG_LEVELS.includes(raw as LogLevel)) return fail(`one of ${LOG_LEVELS.join(', ')}`);
      return raw as LogLevel;
    case 'trust':
      try {
        compileTrust(String(raw));
      } catch (err) {
        throw new ConfigError(
          `invalid ${source}: ${(err as Error).message.replace(/^trustProxy: /, '')}`,
        );
      }
      return String(raw);
    case 'string':
      if (typeof raw !== 'string' || raw === '') return fail('a non-empty value');
      return raw;
  }
}

export function helpText(version: string): string {
  const rows = SETTINGS.map((s) => {
    const flag = s.kind === 'bool' ? `${s.flag}, --no-${s.flag.slice(2)}` : `${s.flag} <value>`;
    const def = defaultText(s);
    return `  ${flag.padEnd(36)} ${s.env}\n      ${s.description} (default: ${def})`;
  });
  return [
    `pairing-relay ${version}: short-lived WebSocket pairing relay (amesh-compatible)`,
    '',
    'Usage: pairing-relay [options]',
    '',
    'Every option can also be set by the environment variable shown; a flag wins.',
    '',
    ...rows,
    '  -h, --help                           show this help',
    '  -v, --version                        print the version',
    '',
    'Endpoints: GET /health, GET /ready, WebSocket /ws',
  ].join('\n');
}

export function defaultText(setting: Setting): string {
  const value = DEFAULTS[setting.key];
  if (setting.key === 'trustProxy' || setting.key === 'redisUrl') return 'off';
  if (value === '') return 'none';
  return String(value);
}
