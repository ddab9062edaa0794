/**
 * kill -9 in the middle of a hosts-file write leaves the old file or the new one, never a mix:
 * a child rewrites the managed section back and forth and is killed at many points of its cycle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostsSection } from '../../../main/system/hosts-file.ts';
import { allowedStates, CRASH_USER_LINES } from '../../support/hosts-crash/hosts-sets.ts';
import { killLoop } from '../../support/hosts-crash/kill-loop.ts';

test('kill -9 during hosts-section writes never leaves a torn file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-crash-'));
  try {
    const path = join(dir, 'hosts');
    const allowed = await allowedStates(join(dir, 'scratch'));
    writeFileSync(path, CRASH_USER_LINES);
    const result = await killLoop({ path, allowed });
    assert.deepEqual(result.torn, [], `torn files after ${result.rounds} kills`);
    assert.ok(result.states >= 2, `the kills landed at ${result.states} point(s) in ${result.rounds} rounds`);
    // A writer that starts after a crash still works (leftover temp files do not get in its way).
    await new HostsSection({ path, interfaceName: 'ngrokd0', subnet: '10.107.0.0/16' }).setHosts([]);
    assert.equal(readFileSync(path, 'latin1'), CRASH_USER_LINES);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
