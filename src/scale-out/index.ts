import type { ResolvedOptions } from '../config/options.js';
import type { Backends } from '../core/backends.js';
import { memoryLedger } from '../limits/jti-ledger.js';
import type { Logger } from '../observe/logger.js';
import { redisCluster } from './cluster.js';
import { redisBudget } from './redis-budget.js';
import { redisLedger } from './redis-ledger.js';
import { createSharedStore } from './shared-store.js';

/**
 * The scale-out plug-in's entry, loaded by the composition root only when
 * Redis is configured: Redis for every store, and the cluster plug-in, which
 * owns the connections' lifecycle.
 */
export function sharedBackends(opts: ResolvedOptions, log: Logger): Backends {
  const store = createSharedStore(opts, opts.redisSecret, opts.redisPrefix, log);
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
