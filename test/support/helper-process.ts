/**
 * Inside a root scenario: the privileged helper as root for an unprivileged user, the desktop app's
 * everyday setup. Makes a temp dir (0755) with the user's own 0700 dir holding a daemon config for
 * `sim`, starts helper/main.ts for that uid and waits until its socket exists.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDaemonConfig } from './private-etc.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface HelperForUser {
  helper: ChildProcess;
  helperSocket: string;
  /** The user's home for the scenario (0700, theirs) and their daemon config in it. */
  userDir: string;
  config: string;
  /** Everything the helper logged so far. */
  log(): string;
}

export async function startHelperForUser(
  uid: number,
  sim: { apiUrl: string; apiKey: string; ingressCaPem: string },
  prefix: string,
): Promise<HelperForUser> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  const userDir = join(dir, 'user');
  mkdirSync(userDir, { mode: 0o700 });
  const { config, files } = writeDaemonConfig(userDir, sim);
  for (const f of [userDir, ...files]) chownSync(f, uid, uid);
  const helperSocket = join(dir, 'helper.sock');
  const helper = spawn(
    process.execPath,
    [
      join(ROOT, 'helper/main.ts'),
      ...['--socket', helperSocket, '--uid', String(uid), '--grace-ms', '500'],
      ...['--state-dir', join(dir, 'helper-state'), '--net-config', join(dir, 'no-helper.json')],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  helper.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  for (let i = 0; i < 200 && !existsSync(helperSocket); i++) await new Promise((r) => setTimeout(r, 50));
  return { helper, helperSocket, userDir, config, log: () => log };
}
