import type { AttemptBudget } from '../limits/attempt-budget.js';
import { edgeOptions, type EdgeEnv } from './env.js';
import { usage } from './usage.js';
import type { DurableObjectNamespace, DurableObjectState } from './workers-api.js';
import { WindowCount } from './window-count.js';

/** The per-address budgets: failed listen/connect (and wrong tokens), and bootstrap watches. */
export type BudgetKind = 'failures' | 'watches';
type Op = 'begin' | 'end' | 'fail' | 'spend' | 'spent';

/**
 * One client key's budgets, wherever in the world its requests land: one
 * object per key, so the limit is global (the platform's rate-limit binding
 * is per location and approximate). The semantics of limits/attempt-budget.ts:
 * begin() counts attempts still running, so a burst from one address gets
 * only the budget; successes spend nothing.
 */
export class BudgetObject {
  // Attempts begun and not yet ended. In a field, not storage: an attempt
  // lasts one round trip, and an object with a request in flight is not evicted.
  private readonly running = new Map<BudgetKind, number>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: EdgeEnv,
  ) {}

  async fetch(request: Request): Promise<Response> {
    usage.objectRequests++;
    const url = new URL(request.url);
    const kind = url.searchParams.get('kind') === 'watches' ? 'watches' : 'failures';
    const op = url.pathname.slice(1) as Op;
    const answer = await this.run(kind, op);
    return new Response(answer ? '1' : '0');
  }

  private async run(kind: BudgetKind, op: Op): Promise<boolean> {
    const opts = edgeOptions(this.env);
    const [points, windowMs] =
      kind === 'failures'
        ? [opts.failedAttemptsPerIp, opts.failedAttemptWindowMs]
        : [opts.watchesPerIp, opts.watchWindowMs];
    const count = new WindowCount(this.ctx.storage, kind, windowMs);
    const now = Date.now();
    switch (op) {
      case 'begin': {
        const ticket = (this.running.get(kind) ?? 0) + 1;
        if ((await count.used(now)) + ticket > points) return false;
        this.running.set(kind, ticket);
        return true;
      }
      case 'end':
      case 'fail': {
        this.running.set(kind, Math.max(0, (this.running.get(kind) ?? 1) - 1));
        if (op === 'fail') await count.spend(now);
        return true;
      }
      case 'spend':
        return (await count.spend(now)) <= points;
      case 'spent':
        return (await count.used(now)) >= points;
      default:
        return false;
    }
  }
}

/**
 * An AttemptBudget (limits/attempt-budget.ts) whose store is the key's
 * BudgetObject. Its rules for a store that cannot answer hold here too, so
 * callers need no catch of their own: begin() refuses, spent() says no,
 * end() adds nothing; spend() rejects, as the interface allows.
 */
export function remoteBudget(namespace: DurableObjectNamespace, kind: BudgetKind): AttemptBudget {
  const call = async (key: string, op: Op): Promise<boolean> => {
    const stub = namespace.get(namespace.idFromName(key));
    const response = await stub.fetch(`https://budget/${op}?kind=${kind}`, { method: 'POST' });
    return (await response.text()) === '1';
  };
  const refused = (): boolean => false;
  return {
    begin: (key) => call(key, 'begin').catch(refused),
    end: async (key, failed) => {
      await call(key, failed ? 'fail' : 'end').catch(refused);
    },
    spend: (key) => call(key, 'spend'),
    spent: (key) => call(key, 'spent').catch(refused),
    close() {
      // Nothing held here: the counts live in the objects.
    },
  };
}
