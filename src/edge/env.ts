import { parseCli } from '../config/cli-options.js';
import { resolveOptions, type ResolvedOptions } from '../config/options.js';
import type { DurableObjectNamespace } from './workers-api.js';

/**
 * The Worker's bindings (deploy/cloudflare/wrangler.toml): the two Durable
 * Object namespaces, and the relay's settings as the same variables the
 * server reads (docs/configuration.md), RELAY_ACCESS_TOKENS as a secret.
 */
export interface EdgeEnv {
  /** One RelayObject per code (`otc:<code>`) and per bootstrap jti (`jti:<jti>`). */
  RELAY: DurableObjectNamespace;
  /** One BudgetObject per client key: its failure and watch budgets. */
  BUDGETS: DurableObjectNamespace;
  readonly [variable: string]: unknown;
}

const resolved = new WeakMap<object, ResolvedOptions>();

/**
 * The settings from the bindings, parsed and checked as the CLI parses its
 * environment: a bad value throws naming the variable. Computed once per
 * env object (an isolate keeps it across requests).
 */
export function edgeOptions(env: EdgeEnv): ResolvedOptions {
  const known = resolved.get(env);
  if (known !== undefined) return known;
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(env))
    if (typeof value === 'string') text[name] = value;
  const command = parseCli([], text);
  const options = resolveOptions(command.kind === 'run' ? command.options : {});
  resolved.set(env, options);
  return options;
}
