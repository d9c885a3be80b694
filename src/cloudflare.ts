/**
 * `pairing-relay/cloudflare`: the relay as a Cloudflare Worker. The default
 * export is the Worker; RelayObject (one per code or jti) and BudgetObject
 * (one per client key) are the Durable Object classes its bindings name
 * (deploy/cloudflare/wrangler.toml, docs/deploy.md).
 */
import { createWorker } from './edge/worker.js';
import { VERSION } from './version.js';

export { RelayObject } from './edge/relay-object.js';
export { BudgetObject } from './edge/budget-object.js';
export type { EdgeEnv } from './edge/env.js';
export default createWorker(VERSION);
