/** The client-side API budget, in virtual time: a burst, then the sustained rate, in order, never more. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { budgetFor, DEFAULT_BUDGET, RequestBudget } from '../../../../main/engine/api/budget.ts';
import { VirtualClock } from '../../../support/virtual-clock.ts';

function budget(policy = {}) {
  const clock = new VirtualClock(0);
  return { clock, budget: new RequestBudget({ policy, now: clock.now, sleep: clock.sleep }) };
}

/** Take `n` tokens one after another; when each was granted (virtual ms). */
async function grants(b: RequestBudget, clock: VirtualClock, n: number): Promise<number[]> {
  const at: number[] = [];
  for (let i = 0; i < n; i++) {
    await b.take();
    at.push(clock.now());
  }
  return at;
}

/** The most grants in any window of `windowMs`. */
function busiestWindow(at: readonly number[], windowMs: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < at.length; i++) {
    while ((at[i] as number) - (at[j] as number) >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

test('the default is 60 a minute with a burst of 20, half of what ngrok allows the whole account', () => {
  assert.deepEqual(DEFAULT_BUDGET, { perMinute: 60, burst: 20 });
  assert.deepEqual(budgetFor(60), DEFAULT_BUDGET);
  assert.deepEqual(budgetFor(2), { perMinute: 2, burst: 1 });
});

test('a burst goes at once, then one token per interval', async () => {
  const { clock, budget: b } = budget();
  const at = await grants(b, clock, 23);
  assert.deepEqual(at.slice(0, 20), Array(20).fill(0));
  assert.deepEqual(at.slice(20), [1000, 2000, 3000]);
  assert.deepEqual(b.stats(), { taken: 23, heldBack: 3, waitedMs: 3000 });
});

test('however it is asked, no minute sees more than burst + rate requests', async () => {
  const { clock, budget: b } = budget();
  const at = await grants(b, clock, 400);
  const busiest = busiestWindow(at, 60_000);
  assert.ok(busiest > 60 && busiest <= 20 + 60, `${busiest} requests in one minute`);
  // Requests in parallel are served in order of arrival, each at its own slot.
  const { clock: c2, budget: b2 } = budget({ perMinute: 60, burst: 2 });
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 5 }, (_, i) =>
      b2.take().then(() => {
        order.push(i);
      }),
    ),
  );
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(c2.now(), 3000);
});

test('a quiet spell refills the bucket up to the burst, not beyond', async () => {
  const { clock, budget: b } = budget({ perMinute: 60, burst: 5 });
  await grants(b, clock, 5);
  clock.advance(3_600_000);
  const start = clock.now();
  const at = await grants(b, clock, 7);
  assert.deepEqual(
    at.map((t) => t - start),
    [0, 0, 0, 0, 0, 1000, 2000],
  );
});

test('a hold (Retry-After) makes every request wait until then; holds only extend', async () => {
  const { clock, budget: b } = budget();
  b.holdUntil(5000);
  b.holdUntil(2000);
  assert.equal(b.heldUntil, 5000);
  const at = await Promise.all([b.take(), b.take()]);
  assert.deepEqual(at, [5000, 5000]);
  assert.equal(clock.now(), 5000);
});

test('a wait ends with the signal, without a token', async () => {
  const { budget: b } = budget({ perMinute: 1, burst: 1 });
  await b.take();
  const controller = new AbortController();
  const waiting = b.take(controller.signal);
  controller.abort(new Error('shutting down'));
  await assert.rejects(waiting, /shutting down/);
  await assert.rejects(b.take(controller.signal), /shutting down/);
});

test('a frozen clock cannot make it spin: each wait is computed once', async () => {
  const sleeps: number[] = [];
  const b = new RequestBudget({
    policy: { perMinute: 60, burst: 1 },
    now: () => 0,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  await grants(b, new VirtualClock(0), 3);
  assert.deepEqual(sleeps, [1000, 2000]);
});
