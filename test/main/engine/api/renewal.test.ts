/** The one renewal rule (when, how often, what a failure tells the user), as pure logic on a test clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NgrokApiError } from '../../../../main/engine/api/api-errors.ts';
import {
  criticalWindowMs,
  renewalBackoffMs,
  renewalDueAt,
  renewalWindowMs,
  RenewalSchedule,
  type CertificateValidity,
} from '../../../../main/engine/api/renewal.ts';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;
const T0 = Date.parse('2025-06-01T00:00:00Z');

function cert(notBefore: number, lifetimeMs: number): CertificateValidity {
  return { notBefore: new Date(notBefore), notAfter: new Date(notBefore + lifetimeMs) };
}

function schedule(start = T0) {
  let now = start;
  const s = new RenewalSchedule({ now: () => now, random: () => 0.5 });
  return {
    s,
    at: (t: number) => {
      now = t;
    },
  };
}

const apiDown = new NgrokApiError(
  'API_UNAVAILABLE',
  'ngrok API at https://api.ngrok.com failed PATCH',
  'wait',
  {
    status: 503,
    retryClass: 'unavailable',
  },
);

test('renewal starts with a third of the lifetime or 30 days left, whichever is smaller', () => {
  assert.equal(renewalWindowMs(cert(T0, 90 * D)), 30 * D);
  assert.equal(renewalWindowMs(cert(T0, 365 * D)), 30 * D);
  assert.equal(renewalWindowMs(cert(T0, 30 * D)), 10 * D);
  // ngrok-style 2-minute certificates, not_before back-dated a minute: renew with a minute left.
  assert.equal(renewalWindowMs(cert(T0 - MIN, 3 * MIN)), MIN);
  assert.equal(renewalDueAt(cert(T0 - MIN, 3 * MIN)), T0 + MIN);
});

test('a fresh certificate is not due; after a success the next renewal waits an hour at least', () => {
  const { s, at } = schedule();
  const long = cert(T0, 90 * D);
  assert.equal(s.due(long), false);
  at(T0 + 60 * D + 1);
  assert.equal(s.due(long), true);

  // A server whose certificates are inside the window from the start (not_before long ago).
  const stale = cert(T0 - 300 * D, 301 * D);
  at(T0);
  assert.equal(s.due(stale), true, 'due by the certificate');
  s.succeeded(stale);
  at(T0 + 59 * MIN);
  assert.equal(s.due(stale), false, 'not again within the hour');
  at(T0 + H);
  assert.equal(s.due(stale), true);

  // Short certificates renew once a third of their lifetime (at least a minute) has gone.
  const short = cert(T0 - MIN, 3 * MIN);
  at(T0);
  s.succeeded(short);
  assert.equal(s.nextAttemptAt(short), T0 + MIN);
});

test('after a failure the next attempt backs off exponentially, capped by the time left, honouring Retry-After', () => {
  const c = cert(T0, 90 * D);
  // Base 30 s (a hundredth of the lifetime, at most 30 s), doubling, capped at 1 h (random 0.5: ×0.75).
  assert.deepEqual(
    [1, 2, 3, 4, 8, 20].map((n) => renewalBackoffMs(n, c, T0 + 61 * D, () => 0.5)),
    [22_500, 45_000, 90_000, 180_000, 2_700_000, 2_700_000],
  );
  // Never immediate, whatever the jitter.
  assert.equal(
    renewalBackoffMs(1, c, T0 + 61 * D, () => 0),
    15_000,
  );
  // Near expiry the cap is a quarter of the time left: attempts get denser.
  assert.equal(
    renewalBackoffMs(20, c, c.notAfter.getTime() - 8 * MIN, () => 1),
    2 * MIN,
  );
  // A 2-minute certificate: base 1.8 s.
  assert.equal(
    renewalBackoffMs(1, cert(T0 - MIN, 3 * MIN), T0 + MIN, () => 1),
    1800,
  );

  const { s, at } = schedule(T0 + 61 * D);
  s.failed(apiDown, c);
  assert.equal(s.nextAttemptAt(c), T0 + 61 * D + 22_500);
  s.failed(apiDown, c);
  assert.equal(s.nextAttemptAt(c), T0 + 61 * D + 45_000);
  const limited = new NgrokApiError('RATE_LIMITED', 'slow down', 'wait', {
    status: 429,
    retryClass: 'throttled',
    retryAfterMs: 10 * MIN,
  });
  s.failed(limited, c);
  assert.equal(s.nextAttemptAt(c), T0 + 61 * D + 10 * MIN, 'Retry-After wins over a shorter backoff');
  assert.equal(s.failures, 3);
  at(T0 + 61 * D + 10 * MIN);
  assert.equal(s.due(c), true);
  s.succeeded(cert(T0 + 61 * D, 90 * D));
  assert.equal(s.failures, 0);
  assert.equal(s.problem(c), null);
});

test('a failed renewal is a warning with the time left, an error with under 24 h (or a tenth) left', () => {
  const c = cert(T0, 90 * D);
  assert.equal(criticalWindowMs(c), D);
  assert.equal(criticalWindowMs(cert(T0 - MIN, 3 * MIN)), 18 * S);

  const { s, at } = schedule(T0 + 70 * D);
  assert.equal(s.problem(c), null, 'nothing to say before a renewal failed');
  s.failed(apiDown, c);
  const warning = s.problem(c);
  assert.equal(warning?.severity, 'warning');
  assert.equal(warning?.problem.code, 'CERT_RENEWAL');
  assert.match(
    warning?.problem.message ?? '',
    /renewing the client certificate failed \(ngrok API at https:\/\/api\.ngrok\.com failed PATCH\)/,
  );
  assert.match(warning?.problem.message ?? '', /valid for 20 days more, until 2025-08-30T00:00:00\.000Z/);
  assert.match(warning?.problem.fix ?? '', /tries again at 2025-08-10T00:00:22\.500Z/);
  assert.equal(warning?.problem.at, '2025-08-10T00:00:00.000Z', 'when it failed: stable while shown');

  at(c.notAfter.getTime() - 30 * H);
  assert.match(s.problem(c)?.problem.message ?? '', /valid for 30 hours more/);
  assert.equal(s.problem(c)?.severity, 'warning');
  at(c.notAfter.getTime() - 23 * H);
  const error = s.problem(c);
  assert.equal(error?.severity, 'error');
  assert.match(error?.problem.message ?? '', /valid for 23 hours more/);
  assert.match(error?.problem.fix ?? '', /then fail until renewal succeeds/);

  at(c.notAfter.getTime() + 1);
  const expired = s.problem(c);
  assert.equal(expired?.severity, 'error');
  assert.match(
    expired?.problem.message ?? '',
    /expired at 2025-08-30T00:00:00\.000Z, and renewing it failed/,
  );
});
