/**
 * Runs inside `unshare -m` (hosts-bind-mount.test.ts): a hosts file that is a single-file bind
 * mount, as Docker and dev containers give /etc/hosts, and one in a read-only directory. Prints one
 * JSON object of observations.
 *   node hosts-bind-mount.scenario.ts DIR
 * DIR/hosts is bind-mounted from DIR/outside/hosts; DIR/ro is read-only with DIR/ro/hosts bind-
 * mounted writable from DIR/outside/ro-hosts.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NgrokdError } from '../../../main/common/errors.ts';
import { writeFileAtomic } from '../../../main/system/atomic-write.ts';
import { HostsSection } from '../../../main/system/hosts-file.ts';
import { recoverInPlaceWrite } from '../../../main/system/in-place-write.ts';
import { allowedStates, CRASH_USER_LINES } from '../../support/hosts-crash/hosts-sets.ts';
import { killLoop } from '../../support/hosts-crash/kill-loop.ts';

const dir = process.argv[2] ?? '';
if (dir === '') throw new Error('usage: hosts-bind-mount.scenario.ts DIR');
const journalDir = join(dir, 'state');
const ENTRIES = [{ ip: '10.107.0.2', hostname: 'my-api.ngrok.app' }];
const section = (path: string, withJournal: boolean) =>
  new HostsSection({
    path,
    interfaceName: 'ngrokd0',
    subnet: '10.107.0.0/16',
    watchIntervalMs: 0,
    ...(withJournal ? { journalDir } : {}),
  });
const results: Record<string, unknown> = {};

async function codeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (err) {
    return err instanceof NgrokdError
      ? `${err.code}: ${err.fix}`
      : ((err as { code?: string }).code ?? String(err));
  }
}

for (const [name, path, outside] of [
  ['bindMount', join(dir, 'hosts'), join(dir, 'outside', 'hosts')],
  ['readOnlyDir', join(dir, 'ro', 'hosts'), join(dir, 'outside', 'ro-hosts')],
] as const) {
  const inode = statSync(path).ino;
  const before = readFileSync(path, 'utf8');
  results[name] = {
    rename: await codeOf(() => writeFileAtomic(path, 'x')),
    withoutJournal: await codeOf(() => section(path, false).setHosts(ENTRIES)),
    withJournal: await codeOf(() => section(path, true).setHosts(ENTRIES)),
    after: readFileSync(path, 'utf8'),
    outside: readFileSync(outside, 'utf8'),
    before,
    sameInode: statSync(path).ino === inode,
  };
}

// kill -9 at many points of in-place rewrites: after the next start's recovery, old or new, never torn.
const path = join(dir, 'hosts');
writeFileSync(path, CRASH_USER_LINES);
const allowed = await allowedStates(join(dir, 'scratch'));
results.kills = await killLoop({
  path,
  allowed,
  journalDir,
  recover: async () => {
    await recoverInPlaceWrite(path, journalDir);
  },
});
process.stdout.write(`${JSON.stringify(results)}\n`);
