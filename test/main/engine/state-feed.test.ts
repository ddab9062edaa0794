/**
 * The one state feed: a clock only while someone listens, at the shortest interval asked for; at
 * most one serialisation per tick and event; each subscriber throttled on its own, skipped while
 * backlogged, and never left behind on a change it missed; deltas for a subscriber that has the
 * version before, a snapshot for one that is new or too far behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointView, StateSnapshot } from '../../../main/common/contract.ts';
import { StateReplica } from '../../../main/common/state-delta.ts';
import { DELTA_HISTORY, StateFeed, type StateEvent } from '../../../main/engine/state-feed.ts';
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

/** The snapshot an event carries (these subscribers asked for no deltas). */
function whole(event: StateEvent | undefined): StateSnapshot {
  assert.equal(event?.kind, 'snapshot');
  return event.data;
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
  assert.equal(whole(a.got[0]).endpoints[0]?.bytes_in, 1);
  assert.equal(JSON.parse(a.got[0]?.json ?? '').endpoints[0].bytes_in, 1);
  change(2);
  advance(500);
  feed.tick();
  assert.equal(a.got.length, 1, 'throttled');
  advance(500);
  feed.tick();
  assert.equal(a.got.length, 2);
  assert.equal(whole(a.got[1]).endpoints[0]?.bytes_in, 2);
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

test('at most one serialisation per tick for every subscriber, none unless sent; `tick` listeners get every tick', () => {
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
    assert.equal(a.got[0], b.got[0], 'the same event');
    assert.equal(serialised, 0, 'in-process listeners need no JSON');
    assert.equal(a.got[0]?.json, b.got[0]?.json);
    assert.equal(serialised, 1);
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

test('a subscriber that asked for deltas gets what changed since its version; unchanged endpoints are not sent', () => {
  let now = 0;
  const endpoints = Array.from({ length: 100 }, (_, i) => endpoint(`svc-${i}.prod`));
  let state = snapshot(endpoints);
  const feed = new StateFeed({ now: () => now, snapshot: () => structuredClone(state) });
  const got = inbox();
  const { initial } = feed.subscribe({ minIntervalMs: 1000, deltas: true, send: got.send });
  assert.equal(initial.kind, 'snapshot');
  const replica = new StateReplica();
  replica.apply(JSON.parse(initial.updateJson));
  const change = (i: number, bytes: number): void => {
    const next = [...state.endpoints];
    next[i] = { ...(next[i] as EndpointView), bytes_in: bytes };
    state = { ...state, endpoints: next };
  };
  change(7, 100);
  now += 1000;
  feed.tick();
  change(7, 200);
  change(42, 50);
  now += 1000;
  feed.tick();
  now += 1000;
  feed.tick(); // nothing changed: nothing sent
  assert.equal(got.got.length, 2);
  const [first, second] = got.got;
  assert.equal(first?.kind, 'delta');
  assert.equal(second?.kind, 'delta');
  assert.equal(first.base, initial.version);
  assert.equal(second.base, first.version, 'each against the version it has');
  assert.deepEqual(
    second.data.endpoints?.map((e) => [e.url, e.bytes_in]),
    [
      ['http://svc-7.prod', 200],
      ['http://svc-42.prod', 50],
    ],
  );
  assert.equal(second.data.order, undefined, 'the set did not change');
  const kept = replica.state?.endpoints[0];
  for (const event of got.got) replica.apply(JSON.parse(event.updateJson));
  assert.deepEqual(replica.state, state, 'the deltas rebuild the state');
  assert.equal(replica.state?.endpoints[0], kept, 'an unchanged endpoint keeps its object');
  feed.close();
});

test('a new subscriber, and one further behind than the feed remembers, get a snapshot; others the same delta', () => {
  let now = 0;
  let bytes = 0;
  const feed = new StateFeed({
    now: () => now,
    snapshot: () => snapshot([endpoint('web.prod', { bytes_in: bytes }), endpoint('db.prod')]),
  });
  const behind = inbox();
  let backlog = true;
  feed.subscribe({ deltas: true, minIntervalMs: 100, send: behind.send, backlogged: () => backlog });
  const a = inbox();
  const b = inbox();
  feed.subscribe({ deltas: true, minIntervalMs: 100, send: a.send });
  feed.subscribe({ deltas: true, minIntervalMs: 100, send: b.send });
  for (let i = 0; i < DELTA_HISTORY + 2; i++) {
    bytes++;
    now += 100;
    feed.tick();
  }
  assert.equal(behind.got.length, 0, 'skipped while backlogged');
  assert.ok(a.got.every((e) => e.kind === 'delta'));
  assert.equal(a.got.at(-1), b.got.at(-1), 'one delta for everyone at the same version');
  backlog = false;
  bytes++;
  now += 100;
  feed.tick();
  const caughtUp = behind.got[0];
  assert.equal(caughtUp?.kind, 'snapshot', 'too far behind: a snapshot');
  assert.equal(caughtUp.data.endpoints[0]?.bytes_in, bytes);
  assert.equal(caughtUp.version, a.got.at(-1)?.version, 'versioned like the deltas');
  const late = feed.subscribe({ deltas: true, send: () => undefined });
  assert.equal(late.initial.kind, 'snapshot');
  assert.equal(late.initial.version, feed.version);
  feed.close();
});

test('a slower subscriber gets one delta over the versions it skipped', () => {
  let now = 0;
  let bytes = 0;
  const feed = new StateFeed({
    now: () => now,
    snapshot: () => snapshot([endpoint('web.prod', { bytes_in: bytes }), endpoint('db.prod')]),
  });
  const fast = inbox();
  const slow = inbox();
  const { initial } = feed.subscribe({ deltas: true, minIntervalMs: 100, send: fast.send });
  feed.subscribe({ deltas: true, minIntervalMs: 1000, send: slow.send });
  for (let i = 0; i < 10; i++) {
    bytes += 10;
    now += 100;
    feed.tick();
  }
  assert.equal(fast.got.length, 10);
  assert.equal(slow.got.length, 1);
  const delta = slow.got[0];
  assert.equal(delta?.kind, 'delta');
  assert.equal(delta.base, initial.version);
  assert.deepEqual(
    delta.data.endpoints?.map((e) => e.bytes_in),
    [100],
    'only web.prod, as it is now',
  );
  feed.close();
});
