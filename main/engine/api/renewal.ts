/**
 * When the operator's client certificate is renewed, in one place (registration.ts applies it and
 * the ingress session asks registration whether a renewal is due), and what the user is told when
 * renewing fails.
 *
 * - Due when less than a third of the certificate's lifetime (not_after − not_before), or 30 days,
 *   is left, whichever is smaller. ngrok's operator renews at a flat 30 days; with certificates
 *   shorter than that a flat window makes every fresh certificate due at once, and ngrokd renewed
 *   on every pass (27 PATCHes, 27 new keys, in 30 s).
 * - After a success, the next renewal comes an hour later at the earliest (a third of the new
 *   certificate's lifetime when that is shorter, but at least a minute): a server that hands out
 *   certificates already inside the window cannot make ngrokd renew on every pass.
 * - After a failure, exponential backoff with jitter: from min(30 s, lifetime/100) (at least 1 s),
 *   doubling, capped at a quarter of the time left (at most 1 h, at least the base), so attempts
 *   get denser as expiry nears; a `Retry-After` from ngrok is honoured.
 * - A failed renewal is a warning (status.warnings) naming the time left. It becomes an error
 *   (status.errors, state degraded) when less than 24 h or a tenth of the lifetime is left,
 *   whichever is smaller: a 90-day certificate warns for 29 days and is an error for its last day;
 *   a 2-minute one (3 minutes with the minute ngrok back-dates not_before) for its last 18 s. By then
 *   a renewal has failed for two thirds of the window, so something needs the user, and soon.
 * - An expired certificate is always an error: connections through the ingress fail until renewal
 *   succeeds.
 */
import type { UserFacingError } from '../../common/errors.ts';
import { toUserFacing } from '../../common/errors.ts';
import type { Random } from './backoff.ts';
import { NgrokApiError } from './api-errors.ts';
import { durationText } from './duration-text.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The window never starts earlier than 30 days before not_after (ngrok's operator's rule). */
export const RENEW_WINDOW_CAP_MS = 30 * DAY;
/** At most one renewal per hour after a success (shorter only for certificates under 3 hours). */
export const MIN_RENEWAL_GAP_MS = HOUR;
/** A failed renewal with less than this (or a tenth of the lifetime) left is an error. */
export const CRITICAL_WINDOW_CAP_MS = DAY;

export interface CertificateValidity {
  notBefore: Date;
  notAfter: Date;
}

export function lifetimeMs(v: CertificateValidity): number {
  return Math.max(0, v.notAfter.getTime() - v.notBefore.getTime());
}

/** How long before not_after renewal starts: min(lifetime / 3, 30 days). */
export function renewalWindowMs(v: CertificateValidity): number {
  return Math.min(lifetimeMs(v) / 3, RENEW_WINDOW_CAP_MS);
}

/** When renewal becomes due by the certificate alone. */
export function renewalDueAt(v: CertificateValidity): number {
  return v.notAfter.getTime() - renewalWindowMs(v);
}

/** With less than this left, a failed renewal is an error: min(24 h, lifetime / 10). */
export function criticalWindowMs(v: CertificateValidity): number {
  return Math.min(CRITICAL_WINDOW_CAP_MS, lifetimeMs(v) / 10);
}

/** The shortest time between a successful renewal and the next one, for the certificate it gave. */
export function minRenewalGapMs(issued: CertificateValidity): number {
  return Math.min(MIN_RENEWAL_GAP_MS, Math.max(MINUTE, lifetimeMs(issued) / 3));
}

/**
 * Wait before the next attempt after `failures` failed ones (1 = the first), for the certificate
 * `v` still in use at `now`: base·2^(failures−1) with equal jitter (half of it fixed, so a retry is
 * never immediate), base min(30 s, lifetime/100) but at least 1 s, capped at a quarter of the time
 * left (at most 1 h, at least the base).
 */
export function renewalBackoffMs(
  failures: number,
  v: CertificateValidity,
  now: number,
  random: Random,
): number {
  const base = Math.min(30 * SECOND, Math.max(SECOND, lifetimeMs(v) / 100));
  const cap = Math.min(HOUR, Math.max(base, (v.notAfter.getTime() - now) / 4));
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (0.5 + 0.5 * random()));
}

/** What status shows about the certificate: a warning, or an error once expiry is near. */
export interface RenewalProblem {
  severity: 'warning' | 'error';
  problem: UserFacingError;
}

const FIX_FAILING =
  'Check the network connection, the API key and https://status.ngrok.com; if it keeps failing, sign out and in again to register afresh.';

/** The renewal state of one registration: when the last one succeeded, how many failed since. */
export class RenewalSchedule {
  readonly #now: () => number;
  readonly #random: Random;
  #succeededAt: number | undefined;
  #gapMs = 0;
  #failures = 0;
  #retryAt = 0;
  #lastFailure: UserFacingError | null = null;

  constructor(options: { now?: () => number; random?: Random } = {}) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Failed attempts since the last success. */
  get failures(): number {
    return this.#failures;
  }

  /** The earliest time to renew the certificate `v` (in the past: due now). */
  nextAttemptAt(v: CertificateValidity): number {
    const byCertificate = renewalDueAt(v);
    if (this.#failures > 0) return Math.max(byCertificate, this.#retryAt);
    if (this.#succeededAt !== undefined) return Math.max(byCertificate, this.#succeededAt + this.#gapMs);
    return byCertificate;
  }

  due(v: CertificateValidity): boolean {
    return this.#now() >= this.nextAttemptAt(v);
  }

  /** A renewal gave the certificate `issued`. */
  succeeded(issued: CertificateValidity): void {
    this.#succeededAt = this.#now();
    this.#gapMs = minRenewalGapMs(issued);
    this.#failures = 0;
    this.#retryAt = 0;
    this.#lastFailure = null;
  }

  /** A renewal failed with `err` while `current` is the certificate in use (valid or not). */
  failed(err: unknown, current: CertificateValidity): void {
    const now = this.#now();
    this.#failures++;
    const backoff = renewalBackoffMs(this.#failures, current, now, this.#random);
    const asked = err instanceof NgrokApiError ? (err.retryAfterMs ?? 0) : 0;
    this.#retryAt = now + Math.max(backoff, asked);
    this.#lastFailure = { ...toUserFacing(err), at: new Date(now).toISOString() };
  }

  /** What the user should know about the certificate `v` in use, or null when all is well. */
  problem(v: CertificateValidity): RenewalProblem | null {
    const now = this.#now();
    const left = v.notAfter.getTime() - now;
    const until = v.notAfter.toISOString();
    const failure = this.#lastFailure;
    const retry = new Date(this.#retryAt).toISOString();
    const ngrok = failure?.ngrokCode === undefined ? {} : { ngrokCode: failure.ngrokCode };
    if (left <= 0) {
      return {
        severity: 'error',
        problem: {
          code: 'CERT_RENEWAL',
          message: `the client certificate expired at ${until}${failure === null ? '' : `, and renewing it failed: ${failure.message}`}`,
          fix:
            failure === null
              ? 'ngrokd renews it on its next poll; connections through the ingress fail until then.'
              : `ngrokd tries again at ${retry}; connections through the ingress fail until it succeeds. ${FIX_FAILING}`,
          at: failure?.at ?? until,
          ...ngrok,
        },
      };
    }
    if (failure === null) return null;
    const critical = left < criticalWindowMs(v);
    return {
      severity: critical ? 'error' : 'warning',
      problem: {
        code: 'CERT_RENEWAL',
        message: `renewing the client certificate failed (${failure.message}); the current one is valid for ${durationText(left)} more, until ${until}`,
        fix: `ngrokd tries again at ${retry}; connections keep working until the certificate expires${critical ? ', then fail until renewal succeeds' : ''}. ${FIX_FAILING}`,
        ...(failure.at === undefined ? {} : { at: failure.at }),
        ...ngrok,
      },
    };
  }
}
