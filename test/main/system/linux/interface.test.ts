/**
 * The Linux interface code against the real kernel, inside a private network namespace so the
 * machine's own network is never touched: the scenarios live in netns/linux-interface.scenario.ts
 * and run in a child started with `unshare -n`. Needs root: skipped without it, unless CI=true.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rootOnly } from '../../../support/root-only.ts';

const skip = rootOnly('it creates interfaces in a private network namespace');

const SCENARIO = fileURLToPath(
  new URL('../../../integration/netns/linux-interface.scenario.ts', import.meta.url),
);
const SCENARIO_COUNT = 11;

test('Linux interface scenarios pass inside a private network namespace', { skip }, (t) => {
  assert.equal(process.platform, 'linux', 'the Linux interface test runs on Linux only');
  assert.equal(
    process.getuid?.(),
    0,
    'this test must run as root (it creates interfaces in a private netns)',
  );
  const probe = spawnSync('unshare', ['-n', 'true']);
  assert.ok(
    probe.error === undefined && probe.status === 0,
    `unshare -n is unavailable: ${probe.error?.message ?? probe.stderr.toString()}`,
  );

  // Without NODE_TEST_CONTEXT the child runs its own test runner instead of reporting to ours.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawnSync('unshare', ['-n', process.execPath, '--test', '--test-reporter=tap', SCENARIO], {
    env: { ...env, NGROKD_NETNS: '1' },
    encoding: 'utf8',
    timeout: 90_000,
  });
  const output = `${child.stdout}\n${child.stderr}`;
  // The scenarios' diagnostics (kind used, timings) are informational: relay them.
  for (const match of child.stdout.matchAll(/^\s*# ((?:adding|removing|dummy) .*)$/gm))
    t.diagnostic(match[1] ?? '');
  const how = child.error === undefined ? '' : ` (${child.error.message}, signal ${child.signal ?? '-'})`;
  assert.equal(child.status, 0, `scenarios failed${how}:\n${output}`);
  assert.match(child.stdout, new RegExp(`^# pass ${SCENARIO_COUNT}$`, 'm'), output);
  assert.match(child.stdout, /^# fail 0$/m, output);
});
