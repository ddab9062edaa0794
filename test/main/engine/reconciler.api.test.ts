/**
 * The reconciler and the API client against the simulator: a hanging API is shown after one
 * timeout, not after every retry; the next poll never comes sooner than ngrok's Retry-After; polls
 * are spread with jitter; and with the smallest poll_interval the config allows, the client-side
 * budget keeps the daemon under ngrok's rate limit (no 429) and a warning says why polls wait.
 * Virtual time wherever time matters (test/support/virtual-clock.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusView } from '../../../main/common/contract.ts';
import { budgetWarning, nextPollDelay } from '../../../main/engine/reconciler.ts';
import { validateConfig } from '../../../main/engine/config.ts';
import { startReconcilerRig, type ReconcilerRig } from '../../support/reconciler-rig.ts';
import { VirtualClock } from '../../support/virtual-clock.ts';

const SUBNET = '127.171.0.0/16';
const ENDPOINTS = [{ url: 'tcp://db.prod:5432' }];

function boundPath(rig: ReconcilerRig): string {
  return `/kubernetes_operators/${rig.session.operator?.operatorId}/bound_endpoints`;
}

test('a hanging API is a current problem after the first timeout while retries go on; an answer clears it', async () => {
  /** What status showed at each retry wait. */
  const during: StatusView[] = [];
  const shown: { status?: () => StatusView } = {};
  const rig = await startReconcilerRig({
    subnet: SUBNET,
    sim: { endpoints: ENDPOINTS },
    api: {
      timeoutMs: 200,
      sleep: async () => {
        if (shown.status !== undefined) during.push(shown.status());
      },
    },
  });
  shown.status = rig.status;
  try {
    await rig.pass();
    assert.equal(rig.status().state, 'running');
    const path = boundPath(rig);
    rig.sim.api.injectFailures(2, { hang: true, paths: [path] });
    await rig.pass();

    const first = during[0];
    assert.ok(first !== undefined, 'the client retried');
    const problem = first.errors.find((e) => e.code === 'API_UNAVAILABLE');
    assert.ok(problem, `shown while retrying: ${JSON.stringify(first.errors)}`);
    assert.ok(
      problem.message.includes(`${rig.sim.apiUrl}${path} did not answer within 200 ms`),
      problem.message,
    );
    assert.match(problem.fix, /network connection.*status\.ngrok\.com.*keeps retrying/);
    assert.equal(first.state, 'degraded');
    assert.equal(first.endpoint_count, 1, 'what works keeps running');

    const now = rig.status();
    assert.deepEqual(now.errors, [], 'the answer that came cleared it');
    assert.equal(now.state, 'running');
  } finally {
    await rig.close();
  }
});

test('after the API gives up, the next poll honours Retry-After (seconds or a date); 225 and 429 without it back off', async () => {
  const clock = new VirtualClock();
  const rig = await startReconcilerRig({
    subnet: SUBNET,
    sim: { endpoints: ENDPOINTS, now: clock.now },
    pollInterval: 1,
    api: { now: clock.now, sleep: clock.sleep, retry: { attempts: 1 } },
  });
  try {
    assert.equal(await rig.pass(), 1000, 'a poll interval of 1 s, jitter at its middle');
    const paths = [boundPath(rig)];

    rig.sim.api.injectFailures(1, { status: 429, retryAfterSeconds: 5, paths });
    assert.equal(await rig.pass(), 5000);
    assert.equal(rig.status().errors[0]?.code, 'RATE_LIMITED');
    assert.match(rig.status().errors[0]?.message ?? '', /ngrok asked to wait 5 s/);

    clock.advance(5000);
    rig.sim.api.injectFailures(1, { status: 429, retryAfterDate: new Date(clock.now() + 8000), paths });
    assert.equal(await rig.pass(), 8000);

    // No Retry-After: never sooner than the interval, and further out while it persists.
    clock.advance(8000);
    rig.sim.api.injectFailures(3, { status: 429, errorCode: 'ERR_NGROK_225', paths });
    // The 3rd, 4th and 5th failure in a row: 2^(n-1) s, not capped by the 1 s interval.
    const delays = [await rig.pass(), await rig.pass(), await rig.pass()];
    assert.deepEqual(delays, [4000, 8000, 16_000]);
    assert.equal(await rig.pass(), 1000, 'an answer brings the interval back');
    assert.deepEqual(rig.status().errors, []);
  } finally {
    await rig.close();
  }
});

test('polls are spread ±10 % around the interval, so daemons started together drift apart', () => {
  const at = (random: number) =>
    nextPollDelay({ pollMs: 30_000, failures: 0, failure: null, renewalInMs: null, random: () => random });
  assert.equal(at(0), 27_000);
  assert.equal(at(0.5), 30_000);
  assert.equal(at(0.999), 32_994);
  // A renewal due before the next poll brings the poll forward; a Retry-After still wins.
  const base = { pollMs: 30_000, failures: 0, random: () => 0.5 };
  assert.equal(nextPollDelay({ ...base, failure: null, renewalInMs: 4000 }), 4000);
  assert.equal(
    nextPollDelay({
      ...base,
      failures: 1,
      failure: { throttled: true, retryAfterMs: 45_000 },
      renewalInMs: 4000,
    }),
    45_000,
  );
});

test('the budget warning names the poll interval that would fit', () => {
  assert.equal(
    budgetWarning({ requests: 1, waitedMs: 0, pollSeconds: 0.05, perMinute: 60 }),
    null,
    'not held back',
  );
  assert.equal(
    budgetWarning({ requests: 101, waitedMs: 80_000, pollSeconds: 120, perMinute: 60 }),
    null,
    'one big discovery that waits is within the rate',
  );
  const warning = budgetWarning({ requests: 101, waitedMs: 80_000, pollSeconds: 30, perMinute: 60 });
  assert.equal(warning?.code, 'API_THROTTLED');
  assert.match(
    warning?.message ?? '',
    /held back to stay under ngrok's rate limit: each poll makes 101 requests/,
  );
  assert.match(warning?.fix ?? '', /Raise bound_endpoints\.poll_interval to at least 101 s/);
});

test("with the smallest poll_interval allowed the daemon stays under ngrok's limit: no 429, and a warning says why", async () => {
  const minimum = 0.05;
  assert.equal(
    validateConfig({ bound_endpoints: { poll_interval: minimum } }).bound_endpoints.poll_interval,
    minimum,
  );
  assert.throws(() => validateConfig({ bound_endpoints: { poll_interval: minimum / 2 } }), /poll_interval/);
  const clock = new VirtualClock();
  const rig = await startReconcilerRig({
    subnet: SUBNET,
    sim: { endpoints: ENDPOINTS, now: clock.now, rateLimitPerMinute: 120 },
    pollInterval: minimum,
    api: { now: clock.now, sleep: clock.sleep },
  });
  try {
    const start = clock.now();
    for (let i = 0; i < 300; i++) await rig.pass(); // back to back: faster than any poll interval
    const log = rig.sim.api.requestLog;
    assert.ok(log.length >= 300);
    assert.deepEqual(
      log.filter((r) => r.status === 429),
      [],
      'ngrok never had to refuse a request',
    );
    let busiest = 0;
    for (let i = 0, j = 0; i < log.length; i++) {
      while ((log[i]?.at ?? 0) - (log[j]?.at ?? 0) >= 60_000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    assert.ok(busiest <= 20 + 60, `${busiest} requests in one minute: over the budget`);
    assert.ok(clock.now() - start >= 200_000, 'the polls were held back, not sent');

    const status = rig.status();
    assert.equal(status.state, 'running', 'a warning leaves the state as it is');
    const warning = status.warnings.find((w) => w.code === 'API_THROTTLED');
    assert.ok(warning, JSON.stringify(status.warnings));
    assert.match(warning.message, /held back to stay under ngrok's rate limit/);
    assert.match(warning.fix, /Raise bound_endpoints\.poll_interval to at least 1 s/);

    rig.setPollInterval(2);
    for (let i = 0; i < 3; i++) {
      clock.advance(2000);
      await rig.pass();
    }
    assert.deepEqual(rig.status().warnings, [], 'gone once polls fit the budget');
  } finally {
    await rig.close();
  }
});
