import type { Logger } from '../observe/logger.js';
import type { ClusterFactory } from './cluster-seam.js';
import type { ResolvedOptions } from '../config/options.js';
import { memoryLedger, type JtiLedger } from '../limits/jti-ledger.js';
import { memoryBudget, type AttemptBudget } from '../limits/attempt-budget.js';
import { redisCluster } from '../scale-out/cluster.js';
import { redisBudget } from '../scale-out/redis-budget.js';
import { redisLedger } from '../scale-out/redis-ledger.js';
import { createSharedStore } from '../scale-out/shared-store.js';

/** The stores behind the protocol: all in memory, or shared through Redis. */
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

/** Redis for every store; the cluster plug-in owns the connections' lifecycle. */
export function sharedBackends(opts: ResolvedOptions, log: Logger): Backends {
  const store = createSharedStore(opts.redisUrl, opts.redisSecret, opts.redisTimeoutMs, log);
  const window = opts.failedAttemptWindowMs;
  return {
    addressBudget: redisBudget(store, 'addr', opts.failedAttemptsPerIp, window, false),
    codeBudget: redisBudget(store, 'code', opts.codeFailureLimit, window, true),
    watchBudget: redisBudget(store, 'watch', opts.watchesPerIp, opts.watchWindowMs, false),
    jtis: redisLedger(
      store,
      opts.consumedJtiTtlMs,
      memoryLedger(opts.consumedJtiTtlMs, opts.maxConsumedJtis),
    ),
    cluster: redisCluster(
      store,
      {
        sessionTtlMs: opts.sessionTtlMs,
        pairedTtlMs: opts.pairedTtlMs,
        watchTtlMs: opts.watchTtlMs,
        timeoutMs: opts.redisTimeoutMs,
        peerTimeoutMs: opts.peerTimeoutMs,
      },
      log,
    ),
  };
}
