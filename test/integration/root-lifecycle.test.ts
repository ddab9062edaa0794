/**
 * A root daemon never leaves names pointing nowhere for long, and its stop is complete and honest:
 * kill -9 is cleaned up by the watchdog after the grace period, `ngrokd cleanup` removes leftovers
 * (and refuses while a daemon runs), SIGTERM during start-up undoes the start, and a stop that
 * cannot remove everything (a full disk) exits 1 naming what is left and how to remove it.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runWithPrivateEtc } from '../support/private-etc.ts';
import { rootOnly } from '../support/root-only.ts';

const skip = rootOnly('it runs root daemons in private namespaces with a copy of /etc');
const SCENARIO = fileURLToPath(new URL('./netns/root-lifecycle.scenario.ts', import.meta.url));

interface State {
  interface: boolean;
  section: boolean;
  socket: boolean;
}
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
let r: {
  error?: string;
  hostsBefore: string;
  beforeKill: State;
  afterKill: { held: boolean; value: State };
  cleanupWhileRunning: Run;
  leftAfterKill: State;
  cleanup: Run;
  afterCleanup: State;
  hostsAfterCleanup: string;
  cleanupAgain: Run;
  startupSigterm: (State & { delayMs: number; code: number | null; signal: string | null; stderr: string })[];
  fullDisk: State & { code: number | null; signal: string | null; stderr: string };
  fullDiskCleanup: Run;
  fullDiskAfterCleanup: State & { hosts: string };
};

before(
  () => {
    if (skip !== false) return;
    // About 15 daemon starts: generous for a loaded 2-core machine.
    r = runWithPrivateEtc<typeof r>(SCENARIO, '127.0.0.1 localhost\n# mine\n', 600_000);
    assert.equal(r.error, undefined, r.error);
  },
  { timeout: 660_000 },
);

test(
  'kill -9 of a root daemon: the interface and the section are gone after the grace period',
  { skip },
  () => {
    assert.deepEqual(r.beforeKill, { interface: true, section: true, socket: true });
    assert.equal(r.afterKill.held, true, JSON.stringify(r.afterKill.value));
  },
);

test('ngrokd cleanup removes what a killed daemon left, and refuses while one runs', { skip }, () => {
  assert.notEqual(r.cleanupWhileRunning.code, 0);
  assert.match(r.cleanupWhileRunning.stderr, /ngrokd is running \(control socket .*ngrokd\.sock\)/);
  assert.deepEqual(r.leftAfterKill, { interface: true, section: true, socket: true });
  assert.equal(r.cleanup.code, 0, r.cleanup.stderr);
  assert.match(r.cleanup.stdout, /the ngrokd section of \/etc\/hosts/);
  assert.match(r.cleanup.stdout, /interface ngrokd0 and its addresses/);
  assert.match(r.cleanup.stdout, /the stale control socket/);
  assert.deepEqual(r.afterCleanup, { interface: false, section: false, socket: false });
  assert.equal(r.hostsAfterCleanup, r.hostsBefore);
  assert.match(r.cleanupAgain.stdout, /Nothing to clean up/);
});

test(
  'SIGTERM at any point of start-up leaves nothing behind, or exits non-zero saying what is left',
  { skip },
  () => {
    assert.equal(r.startupSigterm.length, 8);
    for (const t of r.startupSigterm) {
      const clean = !t.interface && !t.section && !t.socket;
      assert.ok(
        clean || (t.code !== 0 && /left behind: /.test(t.stderr)),
        `SIGTERM after ${t.delayMs} ms: ${JSON.stringify(t)}`,
      );
      if (t.code === 0) assert.ok(clean, `exit 0 but something is left: ${JSON.stringify(t)}`);
    }
  },
);

test(
  'SIGTERM on a full disk: the interface goes, the exit is 1 naming the section left and the fix',
  { skip },
  () => {
    assert.equal(r.fullDisk.code, 1, r.fullDisk.stderr);
    assert.equal(r.fullDisk.interface, false, 'the interface was still removed');
    assert.equal(r.fullDisk.section, true);
    assert.match(
      r.fullDisk.stderr,
      /stopped, but not cleanly: left behind: the hosts section in \/etc\/hosts/,
    );
    assert.match(r.fullDisk.stderr, /ngrokd -- cleanup/);
    assert.doesNotMatch(r.fullDisk.stderr, /stopped cleanly/);
    assert.equal(r.fullDiskCleanup.code, 0, r.fullDiskCleanup.stderr);
    assert.equal(r.fullDiskAfterCleanup.section, false);
    assert.equal(r.fullDiskAfterCleanup.hosts, r.hostsBefore);
  },
);
