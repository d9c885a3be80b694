import { ReplyError } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { Logger } from '../observe/logger.js';
import type { SharedStore } from './shared-store.js';

/**
 * rate-limiter-flexible answers from its insurance limiter, this instance's
 * memory, whenever Redis fails a call: right for an outage, but an ACL user
 * without a command its script runs (INCRBY, PTTL, EXPIRE) fails every
 * call, so every limit turns per-instance for good and nothing would say
 * so. After each connect one limiter without insurance, on a key of its
 * own, does what the budgets do; an error reply from Redis (an ACL refusal,
 * inside the script or not, or any other) is logged once per connection.
 */
export class LimiterCheck {
  private checked = false;
  private readonly probe: RateLimiterRedis;

  constructor(
    private readonly store: SharedStore,
    private readonly log: Logger,
  ) {
    this.probe = new RateLimiterRedis({
      storeClient: store.command,
      points: 1,
      duration: 1,
      keyPrefix: `${store.prefix}rl:check`,
      rejectIfRedisNotReady: true,
    });
  }

  /** The connection was lost: the next one is checked again (it may be another user's). */
  reset(): void {
    this.checked = false;
  }

  /** Checks once per connection; a Redis that did not answer is asked again next time. */
  async maybeCheck(): Promise<void> {
    if (this.checked) return;
    const key = this.store.instanceId;
    try {
      await this.store.bounded(this.probe.consume(key));
      await this.store.bounded(this.probe.get(key));
      await this.store.bounded(this.probe.delete(key));
      this.checked = true;
    } catch (err) {
      // Over its one point (a check that ran twice within the second) is an answer too.
      if (!(err instanceof Error)) {
        this.checked = true;
        return;
      }
      // Not answered (a timeout, a lost connection): the next tick asks again.
      if (!(err instanceof ReplyError)) return;
      this.checked = true;
      this.log.error(
        { err: err.message },
        'Redis refuses what the rate limits need: every limit (failed attempts, watches) ' +
          'now counts on this instance alone. Grant the Redis user the commands ' +
          'docs/scale-out.md lists',
      );
    }
  }
}
