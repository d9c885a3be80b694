#!/usr/bin/env node
import {
  ConfigError,
  describeOptionError,
  helpText,
  parseCli,
  type CliCommand,
} from './config/cli-options.js';
import { isOptionError } from './config/options.js';
import { createRelayServer } from './server.js';
import { RUNTIME, VERSION } from './version.js';

// The only module that reads argv and the environment, handles signals and sets exit codes.
const EXIT_USAGE = 2;
const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };
// A second signal at least this long after the first exits at once; one
// sooner is the first one delivered twice (npm and bunx forward Ctrl-C within
// milliseconds of the terminal).
const REPEAT_SIGNAL_MS = 1_000;

/**
 * Resolves once the text is handed to the OS. process.stdout and stderr are
 * asynchronous on pipes on POSIX (https://nodejs.org/api/process.html#a-note-on-process-io),
 * and process.exit() drops what is still queued: wait before exiting.
 */
function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  if (text === '') return Promise.resolve();
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

async function main(): Promise<void> {
  if (process.argv[2] === 'check') {
    // Loaded only for the subcommand, and kept out of the CLI bundle (a
    // non-literal import is left alone): its node:tls, node:dns and node:https
    // would otherwise load at every relay start.
    const checkModule = './check/cli.js';
    const { checkCli } = (await import(checkModule)) as typeof import('./check/cli.js');
    const out = await checkCli(process.argv.slice(3), process.env);
    await write(process.stdout, out.stdout);
    await write(process.stderr, out.stderr);
    process.exit(out.code);
  }
  const argv = process.argv.slice(2);
  let command: CliCommand;
  try {
    command = parseCli(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    await write(process.stderr, `pairing-relay: ${err.message}\n`);
    process.exit(EXIT_USAGE);
  }
  if (command.kind === 'help') {
    process.stdout.write(helpText(VERSION) + '\n');
    return;
  }
  if (command.kind === 'version') {
    process.stdout.write(VERSION + '\n');
    return;
  }

  let relay;
  try {
    relay = createRelayServer(command.options, {
      sources: command.sources,
      // At listening, not when start() resolves: that waits for a cluster join.
      onListening: (address) =>
        process.stderr.write(
          `pairing-relay ${VERSION} (${RUNTIME}) listening\n  pairing: ${address.url}\n  health:  ${address.healthUrl}\n`,
        ),
    });
  } catch (err) {
    // Cross-field checks (scale-out) run here, not in parseCli; name what the user can change.
    const message = isOptionError(err)
      ? `pairing-relay: ${describeOptionError(err, command.sources)}`
      : (err as Error).message;
    await write(process.stderr, `${message}\n`);
    process.exit(EXIT_USAGE);
  }

  let signalledAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalledAt !== undefined) {
      // npm start and bunx pass the terminal's Ctrl-C on to the relay, which
      // the terminal has already sent it: a repeat this soon is that one press.
      if (performance.now() - signalledAt < REPEAT_SIGNAL_MS) return;
      process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
    }
    signalledAt = performance.now();
    relay.drain().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Token rotation without a restart. Only with a tokens file: otherwise
  // SIGHUP keeps its default (a closed terminal ends the relay).
  if (command.options.accessTokensFile !== undefined && command.options.accessTokensFile !== '') {
    process.on('SIGHUP', () => void relay.reloadAccessTokens());
  }

  try {
    await relay.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (port in use: pick another with --port or PORT)' : '';
    await write(process.stderr, `pairing-relay: cannot listen: ${e.message}${hint}\n`);
    process.exit(1);
  }
}

void main();
