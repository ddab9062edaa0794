import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_RETRY_POLICY,
  jitteredDelay,
  parseRetryAfter,
  retryDelay,
  sleep,
} from '../../../../main/engine/api/backoff.ts';

const policy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 4000, retryAfterCapMs: 60_000 };

test('jittered delay is a random fraction of an exponentially growing, capped ceiling', () => {
  const half = () => 0.5;
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((retry) => jitteredDelay(retry, policy, half)),
    [250, 500, 1000, 2000, 2000, 2000],
  );
  assert.equal(
    jitteredDelay(3, policy, () => 0),
    0,
  );
  assert.equal(
    jitteredDelay(3, policy, () => 0.999),
    3996,
  );
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');
  assert.equal(parseRetryAfter('7', now), 7000);
  assert.equal(parseRetryAfter(' 1.5 ', now), 1500);
  assert.equal(parseRetryAfter('Sat, 01 Mar 2025 12:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Sat, 01 Mar 2025 11:00:00 GMT', now), 0, 'a past date means now');
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('', now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

test("the server's Retry-After wins over backoff, up to the cap", () => {
  const random = () => 0.25;
  assert.equal(retryDelay(2, 3000, policy, random), 3000);
  assert.equal(retryDelay(2, 3_600_000, policy, random), 60_000);
  assert.equal(retryDelay(2, undefined, policy, random), 500);
  assert.equal(DEFAULT_RETRY_POLICY.attempts, 4);
});

test('sleep ends early when its signal aborts', async () => {
  const controller = new AbortController();
  const pending = sleep(60_000, controller.signal);
  controller.abort(new Error('shutting down'));
  await assert.rejects(pending, /shutting down/);
  await assert.rejects(sleep(10, AbortSignal.abort(new Error('already'))), /already/);
  await sleep(1);
});
