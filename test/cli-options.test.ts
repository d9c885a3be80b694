import { describe, expect, it } from 'vitest';
import { ConfigError, parseCli } from '../src/cli-options.js';

const run = (argv: string[], env: Record<string, string> = {}): Record<string, unknown> => {
  const command = parseCli(argv, env);
  if (command.kind !== 'run') throw new Error(`expected run, got ${command.kind}`);
  return command.options as Record<string, unknown>;
};

describe('parseCli', () => {
  it('flags win over variables, variables over defaults', () => {
    expect(run(['--port', '4000'], { PORT: '5000' })['port']).toBe(4000);
    expect(run([], { PORT: '5000' })['port']).toBe(5000);
    expect(run([], {})['port']).toBeUndefined();
  });

  it('an empty variable counts as unset', () => {
    expect(run([], { PORT: '', AMESH_TRUST_PROXY: '' })).toEqual({});
  });

  it('booleans: variable forms, --flag, and --no-flag to turn a variable off', () => {
    expect(run([], { RELAY_METRICS: 'yes' })['metrics']).toBe(true);
    expect(run([], { RELAY_METRICS: '0' })['metrics']).toBe(false);
    expect(run(['--metrics'])['metrics']).toBe(true);
    expect(run(['--no-metrics'], { RELAY_METRICS: '1' })['metrics']).toBe(false);
    expect(() => run(['--metrics', '--no-metrics'])).toThrow(ConfigError);
  });

  it('errors name the flag or the variable', () => {
    expect(() => run(['--port', 'x'])).toThrow(/--port/);
    expect(() => run([], { PORT: 'x' })).toThrow(/PORT/);
    expect(() => run([], { AMESH_TRUST_PROXY: 'maybe' })).toThrow(/AMESH_TRUST_PROXY/);
    expect(() => run(['--trust-proxy', '10.0.0.0/99'])).toThrow(/--trust-proxy/);
    expect(() => run([], { RELAY_MAX_SESSIONS: '0' })).toThrow(/RELAY_MAX_SESSIONS/);
    expect(() => run(['--bogus'])).toThrow(/bogus/);
    expect(() => run(['positional'])).toThrow(ConfigError);
  });

  it('help and version', () => {
    expect(parseCli(['--help'], {}).kind).toBe('help');
    expect(parseCli(['-h'], {}).kind).toBe('help');
    expect(parseCli(['--version'], {}).kind).toBe('version');
  });
});
