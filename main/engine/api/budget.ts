/**
 * The client-side API budget (shared/ngrok-protocol.md §5): ngrok allows 120 requests per rolling
 * minute for the whole account, shared with everything else the account runs, so every request of
 * one NgrokApi first takes a token from a bucket that refills at a sustained rate well below that.
 *
 * Default 60 requests per minute with a burst of 20: in any 60 s this daemon sends at most
 * 20 + 60 = 80 requests, leaving at least 40 to the dashboard, the ngrok CLI and other daemons,
 * while a start-up (registration and a few pages of discovery) still goes out at once. A request
 * that finds the bucket empty waits for its token rather than failing (its signal bounds the wait),
 * in order of arrival. A `Retry-After` from ngrok holds every request until then (`holdUntil`).
 *
 * The bucket is kept as the time the next token is due (GCRA, the "virtual scheduling" form of a
 * token bucket): a request reserves its slot when it asks, so waits are computed once and come out
 * in order, and the wait is a plain sleep. The clock and sleep are injected: tests run in virtual
 * time, and a frozen test clock cannot make it spin.
 */
import type { Sleep } from './backoff.ts';

export interface BudgetPolicy {
  /** Sustained requests per minute. */
  perMinute: number;
  /** Tokens the bucket holds: requests that may go at once after a quiet spell. */
  burst: number;
}

export const DEFAULT_BUDGET: Readonly<BudgetPolicy> = { perMinute: 60, burst: 20 };

/** The policy for a configured rate: the burst is a third of a minute's worth (60/min → 20). */
export function budgetFor(perMinute: number): BudgetPolicy {
  return { perMinute, burst: Math.max(1, Math.ceil(perMinute / 3)) };
}

/** Counters since the budget was made; compare two readings to see what happened in between. */
export interface BudgetStats {
  /** Tokens handed out (requests sent or about to be). */
  taken: number;
  /** Of those, how many had to wait. */
  heldBack: number;
  /** Total time they waited. */
  waitedMs: number;
}

export interface RequestBudgetOptions {
  policy?: Partial<BudgetPolicy>;
  now: () => number;
  sleep: Sleep;
}

export class RequestBudget {
  readonly policy: BudgetPolicy;
  readonly #now: () => number;
  readonly #sleep: Sleep;
  /** Milliseconds per token at the sustained rate. */
  readonly #intervalMs: number;
  /** How far ahead of now the schedule may run before a request waits: the burst. */
  readonly #toleranceMs: number;
  /** When the token after the last one handed out is due (the "theoretical arrival time"). */
  #nextDueAt = Number.NEGATIVE_INFINITY;
  #holdUntil = 0;
  readonly #stats: BudgetStats = { taken: 0, heldBack: 0, waitedMs: 0 };

  constructor(options: RequestBudgetOptions) {
    const policy = { ...DEFAULT_BUDGET, ...options.policy };
    if (!(policy.perMinute > 0) || !(policy.burst >= 1))
      throw new RangeError(`API budget needs perMinute > 0 and burst >= 1, got ${JSON.stringify(policy)}`);
    this.policy = policy;
    this.#now = options.now;
    this.#sleep = options.sleep;
    this.#intervalMs = 60_000 / policy.perMinute;
    this.#toleranceMs = (Math.floor(policy.burst) - 1) * this.#intervalMs;
  }

  /**
   * Take a token, waiting for it when there is none (in order of arrival); resolves how long it
   * waited. Rejects with the signal's reason when it aborts first (the token is not given back:
   * erring on the side of fewer requests).
   */
  async take(signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const now = this.#now();
    const at = Math.max(now, this.#nextDueAt - this.#toleranceMs, this.#holdUntil);
    this.#nextDueAt = Math.max(this.#nextDueAt, at) + this.#intervalMs;
    const wait = at - now;
    this.#stats.taken++;
    if (wait <= 0) return 0;
    this.#stats.heldBack++;
    this.#stats.waitedMs += wait;
    await this.#sleep(Math.ceil(wait), signal);
    return wait;
  }

  /** No token before `at` (a `Retry-After`); an earlier hold is extended, never shortened. */
  holdUntil(at: number): void {
    this.#holdUntil = Math.max(this.#holdUntil, at);
  }

  /** When the current hold ends (0 or a past time: none). */
  get heldUntil(): number {
    return this.#holdUntil;
  }

  stats(): BudgetStats {
    return { ...this.#stats };
  }
}
