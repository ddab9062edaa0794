/**
 * Deltas between versions of the state: applied in order (or from a few versions back, as the feed
 * sends a subscriber that skipped some), they reproduce every snapshot exactly, carry only what
 * changed, and leave every unchanged endpoint with its object. Property-style, with seeded random
 * changes (counters, errors, additions, removals, reorders, status), each run the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointView, StateSnapshot, StateUpdate } from '../../../main/common/contract.ts';
import {
  applyDelta,
  diffState,
  followState,
  sameValue,
  shareUnchanged,
  StateReplica,
} from '../../../main/common/state-delta.ts';
import { endpoint, snapshot } from '../electron/electron-fixtures.ts';

/** mulberry32: a small seeded generator, so a failure replays. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the engine does each tick: every object new, whether it changed or not. */
function fresh<T>(value: T): T {
  return structuredClone(value);
}

/** The next state: a few random changes to `state` (never in place). */
function mutate(state: StateSnapshot, rand: () => number, serial: { n: number }): StateSnapshot {
  const pick = (n: number): number => Math.floor(rand() * n);
  let endpoints = state.endpoints.map((e) => ({ ...e }));
  const changes = pick(4);
  for (let c = 0; c < changes && endpoints.length > 0; c++) {
    const e = endpoints[pick(endpoints.length)] as EndpointView;
    const what = pick(5);
    if (what === 0) e.bytes_in += 1 + pick(5000);
    else if (what === 1) e.connections = pick(3);
    else if (what === 2)
      e.last_error = e.last_error === null ? { code: 'INGRESS_RESET', message: 'reset', fix: 'retry' } : null;
    else if (what === 3) e.listening = !e.listening;
    else e.ids = [...e.ids, `ep_extra_${serial.n++}`];
  }
  const roll = rand();
  if (roll < 0.15) {
    const added = endpoint(`svc-${serial.n++}.test`);
    endpoints.splice(pick(endpoints.length + 1), 0, added);
  } else if (roll < 0.25 && endpoints.length > 0) endpoints.splice(pick(endpoints.length), 1);
  else if (roll < 0.3) endpoints = endpoints.reverse();
  const status =
    rand() < 0.3 ? { ...state.status, last_poll_at: `2025-01-01T00:00:${pick(60)}Z` } : state.status;
  const totals = endpoints.reduce((n, e) => n + e.bytes_in, 0);
  return fresh({ status: { ...status, totals: { ...status.totals, bytes_in: totals } }, endpoints });
}

function start(count: number): StateSnapshot {
  return snapshot(Array.from({ length: count }, (_, i) => endpoint(`svc-${i}.test`)));
}

test('deltas applied in order reproduce every snapshot exactly, keeping unchanged endpoints', () => {
  const kinds = { order: 0, removed: 0, status: 0, endpoints: 0, none: 0 };
  for (const seed of [1, 2, 3, 42, 2024]) {
    const rand = random(seed);
    const serial = { n: 1000 };
    let raw = start(20);
    let shared = shareUnchanged(null, raw);
    const replica = new StateReplica();
    replica.apply({ kind: 'snapshot', version: 0, data: fresh(shared) });
    for (let version = 1; version <= 300; version++) {
      raw = mutate(raw, rand, serial);
      const next = shareUnchanged(shared, raw);
      assert.deepEqual(next, raw, `seed ${seed} v${version}: sharing changes nothing but identity`);
      const delta = diffState(shared, next);
      assert.equal(delta === null, next === shared, 'no delta exactly when nothing changed');
      if (delta === null) kinds.none++;
      for (const key of Object.keys(delta ?? {})) kinds[key as keyof typeof kinds]++;
      const before = replica.state as StateSnapshot;
      // Over the wire: what arrives is the JSON of the delta.
      const update: StateUpdate = JSON.parse(
        JSON.stringify({ kind: 'delta', version, base: version - 1, data: delta ?? {} }),
      );
      const after = replica.apply(update);
      assert.ok(after !== null, `seed ${seed} v${version}: the delta fits`);
      assert.deepEqual(after, raw, `seed ${seed} v${version}: the replica is the snapshot`);
      const previous = new Map(before.endpoints.map((e) => [e.url, e]));
      let unchanged = 0;
      for (const e of after.endpoints) {
        const old = previous.get(e.url);
        if (old !== undefined && sameValue(old, e)) {
          assert.equal(e, old, `seed ${seed} v${version}: ${e.url} did not change and keeps its object`);
          unchanged++;
        }
      }
      assert.equal(
        delta?.endpoints?.length ?? 0,
        after.endpoints.length - unchanged,
        'only the changed are sent',
      );
      const setChanged =
        before.endpoints.map((e) => e.url).join() !== after.endpoints.map((e) => e.url).join();
      assert.equal(
        after.endpoints === before.endpoints,
        !setChanged && unchanged === after.endpoints.length,
        'the endpoints array is new exactly when an endpoint or the set changed',
      );
      if (!setChanged) assert.equal(delta?.order, undefined, 'the order only when the set changes');
      assert.equal(after.status === before.status, delta?.status === undefined);
      shared = next;
    }
  }
  for (const [kind, count] of Object.entries(kinds)) assert.ok(count > 10, `${kind}: ${count} deltas`);
});

test('a delta from a few versions back (a subscriber that skipped some) reproduces the snapshot', () => {
  const rand = random(7);
  const serial = { n: 1000 };
  const history: StateSnapshot[] = [shareUnchanged(null, start(30))];
  for (let i = 0; i < 200; i++)
    history.push(
      shareUnchanged(history.at(-1) ?? null, mutate(history.at(-1) as StateSnapshot, rand, serial)),
    );
  for (let to = 1; to < history.length; to++)
    for (const back of [1, 2, 5, 16]) {
      const from = history[to - back];
      if (from === undefined) continue;
      const current = history[to] as StateSnapshot;
      const base = fresh(from);
      const delta = JSON.parse(JSON.stringify(diffState(from, current) ?? {}));
      assert.deepEqual(applyDelta(base, delta), current, `v${to - back} -> v${to}`);
    }
});

test('a counters-only change costs the changed endpoints, not the whole state', () => {
  const base = shareUnchanged(null, start(10_000));
  const next = fresh(base);
  for (const i of [3, 500, 9999]) (next.endpoints[i] as EndpointView).bytes_out += 100;
  const delta = diffState(base, shareUnchanged(base, next));
  assert.deepEqual(
    delta?.endpoints?.map((e) => e.url),
    ['http://svc-3.test', 'http://svc-500.test', 'http://svc-9999.test'],
  );
  assert.deepEqual(Object.keys(delta ?? {}), ['endpoints'], 'no status, no order, no removals');
  assert.ok(JSON.stringify(delta).length < 2_000, `${JSON.stringify(delta).length} bytes`);
  const removed = diffState(base, shareUnchanged(base, { ...base, endpoints: base.endpoints.slice(1) }));
  assert.deepEqual(
    removed,
    { removed: ['http://svc-0.test'] },
    'a removal alone sends neither order nor endpoints',
  );
});

test('a delta against another version, or one that does not fit, makes the replica start again', () => {
  const replica = new StateReplica();
  const state = start(2);
  assert.equal(replica.apply({ kind: 'delta', version: 1, base: 0, data: {} }), null, 'no snapshot yet');
  assert.equal(replica.apply({ kind: 'snapshot', version: 4, data: state }), state);
  assert.equal(replica.apply({ kind: 'delta', version: 5, base: 4, data: {} }), state, 'an empty delta');
  assert.equal(replica.version, 5);
  assert.equal(replica.apply({ kind: 'delta', version: 7, base: 6, data: {} }), null, 'a version missed');
  assert.equal(replica.state, null);
  replica.apply({ kind: 'snapshot', version: 8, data: state });
  const unknown = endpoint('new.test');
  assert.equal(
    replica.apply({ kind: 'delta', version: 9, base: 8, data: { endpoints: [unknown] } }),
    null,
    'an addition without its place',
  );
});

test('followState gives whole snapshots and subscribes again when a delta does not fit', () => {
  const subscriptions: Array<{ push: (u: StateUpdate) => void; closed: boolean }> = [];
  const source = (onUpdate: (u: StateUpdate) => void): (() => void) => {
    const s = { push: onUpdate, closed: false };
    subscriptions.push(s);
    return () => {
      s.closed = true;
    };
  };
  const seen: StateSnapshot[] = [];
  const stop = followState(source, (state) => seen.push(state));
  const first = start(3);
  subscriptions[0]?.push({ kind: 'snapshot', version: 1, data: first });
  const changed = { ...first.endpoints[1], bytes_in: 9 } as EndpointView;
  subscriptions[0]?.push({ kind: 'delta', version: 2, base: 1, data: { endpoints: [changed] } });
  assert.equal(seen.length, 2);
  assert.equal(seen[1]?.endpoints[0], first.endpoints[0], 'unchanged: the same object');
  assert.equal(seen[1]?.endpoints[1], changed);
  subscriptions[0]?.push({ kind: 'delta', version: 9, base: 8, data: {} });
  assert.equal(subscriptions.length, 2, 'subscribed again');
  assert.equal(subscriptions[0]?.closed, true);
  subscriptions[1]?.push({ kind: 'snapshot', version: 10, data: first });
  assert.equal(seen.length, 3);
  stop();
  assert.equal(subscriptions[1]?.closed, true);
});
