import type { ChildProcess } from 'node:child_process';
import { SETTINGS } from '../../src/config.js';

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
  for (const setting of SETTINGS) delete out[setting.env];
  return { ...out, ...env };
}
