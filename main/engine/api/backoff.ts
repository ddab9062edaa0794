/**
 * Retry timing for the ngrok API. The rate limit (120 requests per rolling minute) is shared by the
 * whole account, so retries must spread out: the server's `Retry-After` always wins when present
 * (never retried sooner), otherwise exponential backoff with full jitter (a random delay in [0, base·2^n], capped), which keeps many
 * clients from retrying in lockstep. Everything here is pure; randomness and sleeping are injected
 * so tests run instantly and can assert the exact delays.
 */

export interface RetryPolicy {
  /** Total attempts including the first one. */
  attempts: number;
  /** Upper bound of the first retry's jittered delay. */
  baseDelayMs: number;
  /** Upper bound of any jittered delay. */
  maxDelayMs: number;
  /**
   * Longest `Retry-After` waited out within a request. A longer one ends the request: the error
   * carries it (NgrokApiError.retryAfterMs) and the caller's next try (the next poll) waits for it.
   */
  retryAfterCapMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  attempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  retryAfterCapMs: 60_000,
};

/** Returns a number in [0, 1), like Math.random. */
export type Random = () => number;

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Full-jitter delay before retry number `retry` (0 = the first retry). */
export function jitteredDelay(retry: number, policy: RetryPolicy, random: Random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry));
  return Math.floor(random() * ceiling);
}

/**
 * Milliseconds a `Retry-After` header asks for: delta-seconds or an HTTP date. Undefined when the
 * header is absent or unparseable; a date in the past means "now" (0).
 */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  if (/^[0-9]+(\.[0-9]+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Delay before retry number `retry`: the server's wish (capped) if it gave one, else jittered backoff. */
export function retryDelay(
  retry: number,
  retryAfterMs: number | undefined,
  policy: RetryPolicy,
  random: Random,
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.retryAfterCapMs);
  return jitteredDelay(retry, policy, random);
}

/** A real timer that ends early (rejecting with the signal's reason) when `signal` aborts. */
export const sleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
