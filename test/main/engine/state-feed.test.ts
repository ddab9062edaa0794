/**
 * The one state feed: a clock only while someone listens, at the shortest interval asked for; one
 * serialisation per tick; each subscriber throttled on its own, skipped while backlogged, and never
 * left behind on a change it missed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StateSnapshot } from '../../../main/common/contract.ts';
import { StateFeed, type StateEvent } from '../../../main/engine/state-feed.ts';
import { endpoint, snapshot } from '../electron/electron-fixtures.ts';

function fixture(options: { intervalMs?: number } = {}) {
  let now = 0;
  let state: StateSnapshot = snapshot([endpoint('web.prod')]);
  const feed = new StateFeed({ ...options, now: () => now, snapshot: () => state });
  return {
    feed,
    advance: (ms: number) => {
      now += ms;
    },
    change: (bytes: number) => {
      state = snapshot([endpoint('web.prod', { bytes_in: bytes })]);
    },
  };
}

function inbox() {
  const got: StateEvent[] = [];
  return { got, send: (event: StateEvent) => got.push(event) };
}

test('a subscriber starts from the state it was given and hears only changes, at most once per its interval', () => {
  const { feed, advance, change } = fixture();
  const a = inbox();
  const { initial, unsubscribe } = feed.subscribe({ minIntervalMs: 1000, send: a.send });
  assert.equal(initial.kind, 'snapshot');
  assert.equal(initial.data.endpoints[0]?.bytes_in, 0);
  advance(1000);
  feed.tick();
  assert.equal(a.got.length, 0, 'the initial state is not sent again');
  change(1);
  advance(500);
  feed.tick();
  assert.equal(a.got.length, 1, 'a change, a second after the last event');
  assert.equal(a.got[0]?.data.endpoints[0]?.bytes_in, 1);
  assert.equal(JSON.parse(a.got[0]?.json ?? '').endpoints[0].bytes_in, 1);
  change(2);
  advance(500);
  feed.tick();
  assert.equal(a.got.length, 1, 'throttled');
  advance(500);
  feed.tick();
  assert.equal(a.got.length, 2);
  assert.equal(a.got[1]?.data.endpoints[0]?.bytes_in, 2);
  unsubscribe();
  assert.equal(feed.size, 0);
});

test('a change missed while throttled or backlogged is delivered later, even if the state then stood still', () => {
  const { feed, advance, change } = fixture();
  const slow = inbox();
  const fast = inbox();
  let backlog = true;
  feed.subscribe({ minIntervalMs: 1000, send: slow.send });
  feed.subscribe({ minIntervalMs: 100, send: fast.send, backlogged: () => backlog });
  change(5);
  advance(100);
  feed.tick(); // fast is backlogged, slow is throttled: nobody gets it
  assert.deepEqual([slow.got.length, fast.got.length], [0, 0]);
  backlog = false;
  advance(100);
  feed.tick(); // no change since the last tick, but fast never got it
  assert.equal(fast.got.length, 1);
  advance(800);
  feed.tick();
  assert.equal(slow.got.length, 1);
  advance(1000);
  feed.tick();
  assert.deepEqual([slow.got.length, fast.got.length], [1, 1], 'and then nothing more');
  feed.close();
});

test('one serialisation per tick for every subscriber; `tick` listeners get every tick without one', () => {
  const { feed, advance, change } = fixture();
  let serialised = 0;
  const original = JSON.stringify;
  JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
    serialised++;
    return original(...args);
  }) as typeof JSON.stringify;
  const ticks: StateEvent[] = [];
  feed.listen({ every: 'tick', send: (event) => ticks.push(event) });
  try {
    feed.tick();
    feed.tick();
    assert.equal(ticks.length, 2);
    assert.equal(serialised, 0, 'nobody needed the JSON');
    const a = inbox();
    const b = inbox();
    feed.listen({ send: a.send });
    feed.listen({ send: b.send });
    change(3);
    advance(1);
    feed.tick();
    assert.equal(serialised, 1);
    assert.equal(a.got[0]?.json, b.got[0]?.json);
  } finally {
    JSON.stringify = original;
    feed.close();
  }
});

test('the clock runs only while someone listens, at the shortest interval asked for', async () => {
  let reads = 0;
  const feed = new StateFeed({
    intervalMs: 10_000,
    snapshot: () => {
      reads++;
      return snapshot([]);
    },
  });
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(reads, 0, 'no subscriber, no snapshot');
  const first = feed.subscribe({ minIntervalMs: 20, send: () => undefined });
  const subscribed = reads;
  await new Promise((r) => setTimeout(r, 150));
  assert.ok(reads - subscribed >= 3, `ticks every 20 ms (${reads - subscribed} in 150 ms)`);
  first.unsubscribe();
  const stopped = reads;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(reads, stopped, 'stopped with the last subscriber');
});

test('a snapshot that throws fails the subscribe, and skips a tick without stopping the feed', () => {
  let up = false;
  const errors: unknown[] = [];
  const feed = new StateFeed({
    snapshot: () => {
      if (!up) throw new Error('restarting');
      return snapshot([]);
    },
    onError: (err) => errors.push(err),
  });
  assert.throws(() => feed.subscribe({ send: () => undefined }), /restarting/);
  const got: StateEvent[] = [];
  feed.listen({ every: 'tick', send: (event) => got.push(event) });
  feed.tick();
  assert.equal(errors.length, 1);
  up = true;
  feed.tick();
  assert.equal(got.length, 1);
  feed.close();
});
