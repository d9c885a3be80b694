import {
  SETTINGS,
  checkOption,
  isOptionError,
  type OptionError,
  type RelayOptions,
  type Setting,
  type TunableKey,
} from './config.js';

// The CLI's settings without node:util: a relay started with no arguments
// (containers, `bunx pairing-relay`) never loads parseArgs, which under Bun
// is ~4 MB of RSS and several ms of cold start (cli-options.ts has the flags).

/** A configuration mistake; the message names the flag or variable at fault. */
export class ConfigError extends Error {
  /** The setting at fault; undefined for a mistake in the command line itself. */
  readonly option: TunableKey | undefined;

  constructor(message: string, option?: TunableKey) {
    super(message);
    this.option = option;
  }
}

const TRUE = new Set(['1', 'true', 'yes']);
const FALSE = new Set(['0', 'false', 'no']);

/** Flag values (from parseArgs, or none) + environment → relay options. Flags win over variables. */
export function resolveCli(
  values: Readonly<Record<string, string | boolean | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): RelayOptions {
  const options: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const name = setting.flag.slice(2);
    if (values[name] === true && values[`no-${name}`] === true) {
      throw new ConfigError(`${setting.flag} and --no-${name} contradict each other`, setting.key);
    }
    const flagValue = values[`no-${name}`] === true ? false : values[name];
    const envValue = env[setting.env];
    if (flagValue !== undefined) {
      options[setting.key] = typed(setting, flagValue, setting.flag);
    } else if (envValue !== undefined && envValue.trim() !== '') {
      options[setting.key] = typed(setting, envValue.trim(), setting.env);
    }
  }
  return options as RelayOptions;
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
    default:
      return raw;
  }
}

/** Names what the user can change, flag and variable, for an error from `createRelayServer()`. */
export function describeOptionError(err: OptionError): string {
  const setting = SETTINGS.find((s) => s.key === err.option);
  return setting === undefined ? err.message : `${setting.flag} / ${setting.env} ${err.problem}`;
}
