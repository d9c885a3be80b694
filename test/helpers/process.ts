import { spawn, type ChildProcess } from 'node:child_process';
import { SETTINGS } from '../../src/config/options.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const children = new Set<ChildProcess>();

/** Remembers a spawned relay so killChildren() can end it if a test did not. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  return child;
}

/** For afterEach: SIGKILL every tracked process still running. */
export function killChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** The test runner's environment minus every relay setting, plus `env`: for spawned relays. */
export function relayChildEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) {
    delete out[setting.env];
    if (setting.fileEnv !== undefined) delete out[setting.fileEnv];
  }
  return { ...out, ...env };
}

/** What a command printed, and how it ended. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (tracked, so a hung one is killed after the test). */
export function runToExit(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  const child = track(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  // 'close' rather than 'exit': it comes once stdout and stderr are fully read too.
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}
