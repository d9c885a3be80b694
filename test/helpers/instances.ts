import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { relayChildEnv, track, type Exit } from './process.js';
import { transport } from './transports.js';

// Relay instances as real processes running the built CLI (`npm test` builds
// before vitest runs) on the transport's runtime, so fault tests can SIGKILL or
// SIGTERM them: a test using them needs the `cli` capability.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const LISTEN_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_MS = 5_000;

export interface RelayProcess {
  child: ChildProcess;
  port: number;
  /** ws://127.0.0.1:<port>/ws, as logged on the "listening" line. */
  url: string;
  httpUrl(path: string): string;
  /** GET /ready */
  ready(): Promise<{ status: number; body: unknown }>;
  /**
   * Resolves once /ready says "ready": the relay listens before it has joined
   * its cluster, so a cross-instance pairing right after "listening" may miss.
   */
  joined(timeoutMs?: number): Promise<void>;
  /** GET /health; the body has `sessions`. */
  health(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Sends the signal (unless already gone) and resolves once the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<Exit>;
  /** Everything printed so far, stdout and stderr interleaved, for failure messages. */
  logs(): string;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

/**
 * Spawns `<runtime> dist/cli.js ...args` with a clean environment plus `env`
 * (defaults PORT=0, HOST=127.0.0.1, LOG_LEVEL=info) and resolves once it logs
 * "listening". Rejects, with the output so far, if it exits first or takes more
 * than 15 s (the process is then killed). With REDIS_URL pointing at a Redis
 * that is down, startup can take ~5x RELAY_REDIS_TIMEOUT_MS.
 */
export async function startRelayProcess(
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<RelayProcess> {
  const child = spawn(transport.cli(), [CLI, ...args], {
    cwd: ROOT,
    env: relayChildEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);

  let output = '';
  let partial = '';
  let exit: Exit | null = null;
  let onListening: ((url: URL) => void) | undefined;
  let onExit: (() => void) | undefined;

  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
      onExit?.();
    });
  });
  child.on('error', (err) => {
    output += `[spawn error] ${err.message}\n`;
  });
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    output += chunk;
  });
  child.stdout!.on('data', (chunk: string) => {
    output += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (onListening === undefined || !line.startsWith('{')) continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // not a log line
      }
      if (parsed['msg'] === 'listening' && typeof parsed['url'] === 'string') {
        onListening(new URL(parsed['url']));
      }
    }
  });

  const wsUrl = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => {
      finish();
      child.kill('SIGKILL');
      reject(
        new Error(
          `relay did not log "listening" within ${LISTEN_TIMEOUT_MS} ms; output:\n${output}`,
        ),
      );
    }, LISTEN_TIMEOUT_MS);
    const finish = (): void => {
      clearTimeout(timer);
      onListening = undefined;
      onExit = undefined;
    };
    onListening = (url) => {
      finish();
      resolve(url);
    };
    onExit = () => {
      finish();
      reject(
        new Error(`relay exited (${JSON.stringify(exit)}) before listening; output:\n${output}`),
      );
    };
  });

  const port = Number(wsUrl.port);
  const httpUrl = (path: string): string => `http://${wsUrl.host}${path}`;
  return {
    child,
    port,
    url: wsUrl.href,
    httpUrl,
    ready: () => getJson(httpUrl('/ready')),
    async joined(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { body } = await getJson(httpUrl('/ready')).catch(() => ({ body: undefined }));
        if ((body as Record<string, unknown> | undefined)?.['status'] === 'ready') return;
        if (Date.now() > deadline) throw new Error(`not joined within ${timeoutMs} ms: ${output}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    health: async () => {
      const { status, body } = await getJson(httpUrl('/health'));
      return { status, body: body as Record<string, unknown> };
    },
    async kill(signal) {
      if (exit === null) child.kill(signal);
      await exited;
    },
    exited,
    logs: () => output,
  };
}
