import type { ClusterFactory } from './cluster-seam.js';
import type { ResolvedOptions } from '../config/options.js';
import { memoryLedger, type JtiLedger } from '../limits/jti-ledger.js';
import { memoryBudget, type AttemptBudget } from '../limits/attempt-budget.js';

/**
 * The stores behind the protocol: in memory here, or shared by a cluster
 * plug-in (scale-out/ builds those; the core never names Redis).
 */
export interface Backends {
  /** Failed listen/connect per client address. */
  addressBudget: AttemptBudget;
  /** Failed listen/connect per code, from any address. */
  codeBudget: AttemptBudget;
  /** bootstrap_watch per client address. */
  watchBudget: AttemptBudget;
  jtis: JtiLedger;
  /** Scale-out only: the plug-in that joins instances into one relay. */
  cluster: ClusterFactory | undefined;
}

export function memoryBackends(opts: ResolvedOptions): Backends {
  return {
    addressBudget: memoryBudget(opts.failedAttemptsPerIp, opts.failedAttemptWindowMs),
    codeBudget: memoryBudget(opts.codeFailureLimit, opts.failedAttemptWindowMs),
    watchBudget: memoryBudget(opts.watchesPerIp, opts.watchWindowMs),
    jtis: memoryLedger(opts.consumedJtiTtlMs, opts.maxConsumedJtis),
    cluster: undefined,
  };
}
