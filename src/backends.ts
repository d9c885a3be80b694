import type { Logger } from 'pino';
import type { ResolvedOptions } from './config.js';
import { memoryLedger, type JtiLedger } from './jti-ledger.js';
import { memoryBudget, type AttemptBudget } from './rate-limit.js';
import { Cluster } from './scale-out/cluster.js';
import { redisBudget } from './scale-out/redis-budget.js';
import { redisLedger } from './scale-out/redis-ledger.js';
import type { SharedStore } from './scale-out/shared-store.js';

/** The stores behind the protocol: all in memory, or shared through Redis. */
export interface Backends {
  /** Failed listen/connect per client address. */
  addressBudget: AttemptBudget;
  /** Failed listen/connect per code, from any address. */
  codeBudget: AttemptBudget;
  /** bootstrap_watch per client address. */
  watchBudget: AttemptBudget;
  jtis: JtiLedger;
  /** Scale-out only: sessions across instances. */
  cluster: Cluster | undefined;
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

export function sharedBackends(opts: ResolvedOptions, store: SharedStore, log: Logger): Backends {
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
    cluster: new Cluster(
      store,
      {
        sessionTtlMs: opts.sessionTtlMs,
        pairedTtlMs: opts.pairedTtlMs,
        watchTtlMs: opts.watchTtlMs,
        timeoutMs: opts.redisTimeoutMs,
      },
      log,
    ),
  };
}
