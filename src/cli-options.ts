import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULTS, SETTINGS, type RelayOptions, type Setting } from './config.js';
import { ConfigError, resolveCli } from './cli-env.js';

export { ConfigError, describeOptionError } from './cli-env.js';

export type CliCommand =
  { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: RelayOptions };

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

  return { kind: 'run', options: resolveCli(values, env) };
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
  if (setting.shownDefault !== undefined) return setting.shownDefault;
  const value = DEFAULTS[setting.key];
  return value === '' ? 'none' : String(value);
}
