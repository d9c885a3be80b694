import { parseArgs } from 'node:util';
import { formatJson, formatText } from './report.js';
import { runCheck } from './run.js';

export const CHECK_HELP = `Usage: pairing-relay check <ws(s)://host[:port]/ws> [options]

Probes a deployed relay from where it runs, one verdict line per step: DNS,
TCP, TLS (wss://), /health and /ready, the WebSocket upgrade, a full pairing
between two simulated clients (a random code, data both ways, done), an
optional quiet hold, and whether the relay tells clients apart behind its
proxy. At most six connections; it never guesses codes.

  --json            one JSON report on stdout instead of lines
  --hold <seconds>  keep a paired session quiet this long and say whether
                    something in between cut it (e.g. 40; default 0 = off)
  --token <token>   access token for a gated relay (or RELAY_CHECK_TOKEN)
  --timeout <ms>    per step (default 10000)
  -h, --help        this help

Exit code: 0 when every step passed, 1 when one failed, 2 for a usage error.`;

export interface CheckOutput {
  code: 0 | 1 | 2;
  stdout: string;
  stderr: string;
}

const usage = (message: string): CheckOutput => ({
  code: 2,
  stdout: '',
  stderr: `pairing-relay check: ${message}\nRun pairing-relay check --help for usage.\n`,
});

/** argv after "check" → the report's text and exit code. Bad input is a usage error, never a crash. */
export async function checkCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<CheckOutput> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        hold: { type: 'string' },
        token: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { code: 0, stdout: CHECK_HELP + '\n', stderr: '' };
  if (positionals.length !== 1)
    return usage('give exactly one URL, e.g. wss://relay.example.com/ws');
  let url: URL;
  try {
    url = new URL(positionals[0] as string);
  } catch {
    return usage(`not a URL: ${JSON.stringify(positionals[0])}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return usage(
      `the URL must start with ws:// or wss:// (the one clients use), got ${url.protocol}//`,
    );
  }
  const holdS = values.hold === undefined ? 0 : Number(values.hold);
  if (!Number.isFinite(holdS) || holdS < 0 || holdS > 3600) {
    return usage('--hold takes seconds, from 0 to 3600');
  }
  const timeoutMs = values.timeout === undefined ? 10_000 : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 120_000) {
    return usage('--timeout takes milliseconds, from 100 to 120000');
  }
  const token = values.token ?? (env['RELAY_CHECK_TOKEN'] || undefined);
  const report = await runCheck({ url: url.href, holdS, token, timeoutMs });
  return {
    code: report.ok ? 0 : 1,
    stdout: values.json === true ? formatJson(report) : formatText(report),
    stderr: '',
  };
}
