/**
 * /etc/hosts as a single-file bind mount (Docker, dev containers, some CI runners) and a writable
 * hosts file in a read-only /etc: rename cannot replace them, so ngrokd rewrites them in place with a
 * journal, and a kill -9 at any point is recovered on the next start. Runs as root inside
 * `unshare -m` (netns/hosts-bind-mount.scenario.ts) so no real mount is touched.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootOnly } from '../../support/root-only.ts';

const SCENARIO = fileURLToPath(
  new URL('../../integration/netns/hosts-bind-mount.scenario.ts', import.meta.url),
);
const skip = rootOnly('it bind-mounts files inside a private mount namespace');
const USER_LINES = '127.0.0.1 localhost\n# the container runtime wrote this\n172.17.0.2 c0ffee\n';

interface Case {
  rename: string;
  withoutJournal: string;
  withJournal: string;
  after: string;
  outside: string;
  before: string;
  sameInode: boolean;
}
let results: {
  bindMount: Case;
  readOnlyDir: Case;
  kills: { rounds: number; torn: { round: number; bytes: number }[]; states: number };
};

before(() => {
  if (skip !== false) return;
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-bind-'));
  try {
    mkdirSync(join(dir, 'outside'));
    mkdirSync(join(dir, 'ro'));
    mkdirSync(join(dir, 'state'), { mode: 0o700 });
    for (const file of ['hosts', 'outside/hosts', 'ro/hosts', 'outside/ro-hosts']) {
      writeFileSync(join(dir, file), USER_LINES);
    }
    const script = [
      'set -e',
      'mount --make-rprivate /',
      'mount --bind "$1/outside/hosts" "$1/hosts"',
      'mount --bind "$1/ro" "$1/ro"',
      'mount -o remount,bind,ro "$1/ro"',
      'mount --bind "$1/outside/ro-hosts" "$1/ro/hosts"',
      'exec "$2" "$3" "$1"',
    ].join('; ');
    const child = spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', dir, process.execPath, SCENARIO], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    assert.equal(child.status, 0, `scenario failed:\n${child.stdout}\n${child.stderr}`);
    results = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as typeof results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [name, why] of [
  ['bindMount', 'a single-file bind mount'],
  ['readOnlyDir', 'a writable file in a read-only directory'],
] as const) {
  test(
    `${why}: rename cannot replace it; ngrokd rewrites it in place and keeps every user line`,
    { skip },
    () => {
      const r = results[name];
      assert.match(r.rename, /^(EBUSY|EXDEV|EROFS|EACCES|EPERM)$/, `rename: ${r.rename}`);
      assert.match(
        r.withoutJournal,
        /^HOSTS_FILE_WRITE: .*cannot be replaced \(a bind mount, or a read-only directory\)/,
      );
      assert.equal(r.withJournal, 'ok');
      assert.equal(
        r.after,
        `${r.before}# BEGIN ngrokd managed section\n10.107.0.2 my-api.ngrok.app\n# END ngrokd managed section\n`,
      );
      assert.equal(r.outside, r.after, 'written through the mount, into the file the container runtime gave');
      assert.equal(r.sameInode, true);
    },
  );
}

test(
  'kill -9 during in-place rewrites: after the next start, the file is the old or the new one',
  { skip },
  () => {
    assert.deepEqual(results.kills.torn, [], `torn after recovery in ${results.kills.rounds} kills`);
    assert.ok(
      results.kills.states >= 2,
      `${results.kills.states} distinct states in ${results.kills.rounds} kills`,
    );
  },
);
