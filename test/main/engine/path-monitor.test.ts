import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathMonitor, type PathChange } from '../../../main/engine/path-monitor.ts';

/** A monitor on hand-driven clocks and path, recording what it reports. */
function rig() {
  const clock = { wall: 1_000_000, mono: 500 };
  let path = 'dev 2 via 192.168.1.1';
  let destination = '192.0.2.1';
  const changes: { reason: PathChange; detail: string }[] = [];
  const monitor = new PathMonitor({
    destination: () => destination,
    fingerprint: (to) => (to === destination ? path : 'wrong destination'),
    onChange: (reason, detail) => changes.push({ reason, detail }),
    intervalMs: 2_000,
    jumpMs: 5_000,
    wallNow: () => clock.wall,
    monoNow: () => clock.mono,
  });
  const advance = (wallMs: number, monoMs = wallMs): void => {
    clock.wall += wallMs;
    clock.mono += monoMs;
    monitor.tick();
  };
  return {
    monitor,
    changes,
    advance,
    setPath: (p: string) => (path = p),
    setDestination: (d: string) => (destination = d),
  };
}

test('ticks on time with the same path report nothing, also with scheduling noise', () => {
  const r = rig();
  for (let i = 0; i < 10; i++) r.advance(2_000);
  r.advance(4_500); // a loaded machine: a late timer, both clocks agree
  r.advance(2_000, 2_000 + 1_000); // monotonic a little ahead (wall clock slewed by NTP)
  assert.deepEqual(r.changes, []);
});

test('a sleep (the wall clock ran on, the monotonic one stopped) is a resume', () => {
  const r = rig();
  r.advance(2_000);
  r.advance(3_600_000, 2_000);
  assert.equal(r.changes.length, 1);
  assert.equal(r.changes[0]?.reason, 'resume');
  assert.match(r.changes[0]?.detail ?? '', /slept for about 3598 s/);
  r.advance(2_000);
  assert.equal(r.changes.length, 1, 'reported once');
});

test('a stopped process (both clocks ran, the timer came far too late) is a resume too', () => {
  const r = rig();
  r.advance(60_000);
  assert.equal(r.changes[0]?.reason, 'resume');
  assert.match(r.changes[0]?.detail ?? '', /not scheduled/);
});

test('a new route to the ingress is a network change naming both; a resume that changed it is one report', () => {
  const r = rig();
  r.setPath('dev 3 via 10.0.0.1');
  r.advance(2_000);
  assert.deepEqual(r.changes, [
    {
      reason: 'network',
      detail: 'the route to the ingress changed: dev 2 via 192.168.1.1 → dev 3 via 10.0.0.1',
    },
  ]);
  r.setPath('dev 4 via 172.16.0.1');
  r.advance(600_000, 2_000);
  assert.equal(r.changes.length, 2);
  assert.equal(r.changes[1]?.reason, 'resume');
  r.advance(2_000);
  assert.equal(r.changes.length, 2, 'the path seen at the resume is the new normal');
});

test('a new destination (the ingress address became known) is a new baseline, not a change', () => {
  const r = rig();
  r.setDestination('203.0.113.7');
  r.setPath('dev 2 via 192.168.1.1 src 192.168.1.20');
  r.advance(2_000);
  assert.equal(r.changes.length, 0);
  r.setPath('dev 5 via 10.8.0.1 src 10.8.0.2');
  r.advance(2_000);
  assert.equal(r.changes[0]?.reason, 'network');
});
