import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeEndpointChanges,
  listNames,
  Notifier,
  type NotificationContent,
} from '../../../main/electron/notifications.ts';
import { endpoint, PLAN_GATE, snapshot } from './electron-fixtures.ts';

function setup(enabled = true) {
  let now = 0;
  const shown: NotificationContent[] = [];
  let on = enabled;
  const notifier = new Notifier({
    show: (c) => shown.push(c),
    enabled: () => on,
    now: () => now,
    settleMs: 4000,
    maxWaitMs: 30_000,
  });
  return {
    notifier,
    shown,
    advance: (ms: number) => (now += ms),
    setEnabled: (value: boolean) => (on = value),
  };
}

const A = endpoint('a.ns');
const B = endpoint('b.ns');
const C = endpoint('c.ns');

test('the first discovery after start is the baseline, not news', () => {
  const { notifier, shown, advance } = setup();
  notifier.update(snapshot([], { last_poll_at: null }));
  notifier.update(snapshot([A, B]));
  advance(60_000);
  notifier.update(snapshot([A, B]));
  assert.deepEqual(shown, []);
});

test('changes are told once, after things settle, in one notification', () => {
  const { notifier, shown, advance } = setup();
  notifier.update(snapshot([A]));
  advance(1000);
  notifier.update(snapshot([A, B]));
  advance(1000);
  notifier.update(snapshot([A, B, C]));
  advance(1000);
  notifier.update(snapshot([B, C]));
  assert.deepEqual(shown, [], 'still changing');
  advance(4000);
  notifier.update(snapshot([B, C]));
  assert.deepEqual(shown, [
    {
      title: 'ngrokd: 2 endpoints added, 1 endpoint removed',
      body: 'Now reachable: b.ns and c.ns\nGone: a.ns',
    },
  ]);
  advance(60_000);
  notifier.update(snapshot([B, C]));
  assert.equal(shown.length, 1);
});

test('an endpoint that comes back before the notice is not news', () => {
  const { notifier, shown, advance } = setup();
  notifier.update(snapshot([A, B]));
  advance(500);
  notifier.update(snapshot([A]));
  advance(500);
  notifier.update(snapshot([A, B]));
  advance(10_000);
  notifier.update(snapshot([A, B]));
  assert.deepEqual(shown, []);
});

test('a list that never stops changing is still told, at most every 30 s', () => {
  const { notifier, shown, advance } = setup();
  notifier.update(snapshot([A]));
  for (let i = 1; i <= 20; i++) {
    advance(2000);
    notifier.update(snapshot([A, ...Array.from({ length: i }, (_, j) => endpoint(`x${j}.ns`))]));
  }
  assert.equal(shown.length, 1);
  assert.equal(shown[0]?.title, 'ngrokd: 16 endpoints added');
});

test('turning it off (the user) is not news, and neither is turning it on again', () => {
  const { notifier, shown, advance } = setup();
  notifier.update(snapshot([A, B]));
  notifier.update(snapshot([], { enabled: false }));
  advance(10_000);
  notifier.update(snapshot([], { enabled: false }));
  notifier.update(snapshot([A, B]));
  advance(10_000);
  notifier.update(snapshot([A, B]));
  assert.deepEqual(shown, []);
});

test('a new problem is told once with its fix; the same problem not again within an hour', () => {
  const { notifier, shown, advance } = setup();
  notifier.update(snapshot([A]));
  notifier.update(snapshot([A], { errors: [PLAN_GATE] }));
  assert.deepEqual(shown, [{ title: `ngrokd needs attention: ${PLAN_GATE.message}`, body: PLAN_GATE.fix }]);
  notifier.update(snapshot([A], { errors: [PLAN_GATE] }));
  notifier.update(snapshot([A]));
  advance(60_000);
  notifier.update(snapshot([A], { errors: [PLAN_GATE] }));
  assert.equal(shown.length, 1, 'flapping error within the hour');
  notifier.update(snapshot([A]));
  advance(3_600_000);
  notifier.update(snapshot([A], { errors: [PLAN_GATE] }));
  assert.equal(shown.length, 2);
});

test('problems present at start are not told (they are on screen)', () => {
  const { notifier, shown } = setup();
  notifier.update(snapshot([], { errors: [PLAN_GATE] }));
  assert.deepEqual(shown, []);
});

test('the setting turns notifications off', () => {
  const { notifier, shown, advance, setEnabled } = setup();
  setEnabled(false);
  notifier.update(snapshot([A]));
  notifier.update(snapshot([A, B], { errors: [PLAN_GATE] }));
  advance(10_000);
  notifier.update(snapshot([A, B], { errors: [PLAN_GATE] }));
  assert.deepEqual(shown, []);
});

test('names are listed briefly', () => {
  assert.equal(listNames(['a']), 'a');
  assert.equal(listNames(['a', 'b', 'c']), 'a, b and c');
  assert.equal(listNames(['a', 'b', 'c', 'd', 'e']), 'a, b, c and 2 more');
  assert.equal(describeEndpointChanges([], []), null);
  assert.deepEqual(describeEndpointChanges([], ['x']), {
    title: 'ngrokd: 1 endpoint removed',
    body: 'Gone: x',
  });
});
