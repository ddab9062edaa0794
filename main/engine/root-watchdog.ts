/**
 * The root daemon's crash cleanup, the counterpart of the helper's grace period: a small process
 * started beside a root daemon, in its own process group (a Ctrl-C or a kill of the daemon does not
 * reach it), holding a pipe from the daemon. A clean stop says so on the pipe and the watchdog exits.
 * When the pipe closes without that (kill -9, a crash), it waits the grace period and then, unless
 * another daemon has taken the interface over meanwhile, removes the hosts section and the interface:
 * names never point at addresses nothing serves for longer than that.
 *   node root-watchdog.ts NAME HOSTS_PATH STATE_DIR GRACE_MS   (started by startRootWatchdog)
 */
import { spawn } from 'node:child_process';
import { isEntryPoint } from '../system/entry-point.ts';
import { fileURLToPath } from 'node:url';
import { aliasOwner, findInterface } from '../system/linux/interface.ts';
import { isRunning } from '../system/process-identity.ts';
import { removeLeftovers } from '../system/root-ops.ts';

export const DEFAULT_CLEANUP_GRACE_MS = 10_000;
const STOPPED = 'stopped\n';

export interface RootWatchdog {
  /** The daemon stopped cleanly: nothing to clean up. */
  release(): void;
}

export function startRootWatchdog(options: {
  interfaceName: string;
  hostsPath: string;
  stateDir: string;
  graceMs?: number;
}): RootWatchdog {
  const grace = options.graceMs ?? graceFromEnvironment();
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      options.interfaceName,
      options.hostsPath,
      options.stateDir,
      String(grace),
    ],
    { detached: true, stdio: ['pipe', 'ignore', 'inherit'] },
  );
  child.on('error', () => undefined);
  child.stdin.on('error', () => undefined);
  child.unref();
  // The pipe must not keep the daemon alive either.
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  return {
    release: () => {
      child.stdin.end(STOPPED);
    },
  };
}

function graceFromEnvironment(): number {
  const value = Number(process.env.NGROKD_CLEANUP_GRACE_MS);
  return Number.isSafeInteger(value) && value >= 0 ? value : DEFAULT_CLEANUP_GRACE_MS;
}

async function watch(
  interfaceName: string,
  hostsPath: string,
  stateDir: string,
  graceMs: number,
): Promise<void> {
  let said = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => (said += chunk));
  await new Promise<void>((resolve) => process.stdin.once('close', resolve));
  if (said.includes(STOPPED)) return;
  await new Promise((resolve) => setTimeout(resolve, graceMs));
  if (takenOver(interfaceName)) return;
  const { interfaces } = await removeLeftovers({ interfaceName, hostsPath, stateDir });
  process.stderr.write(
    `ngrokd watchdog: the daemon for ${interfaceName} died; removed its hosts section and ${interfaces.join(', ') || 'no interface'}\n`,
  );
}

/** Whether a daemon started meanwhile uses the interface (Linux records it on the link). */
function takenOver(interfaceName: string): boolean {
  if (process.platform !== 'linux') return false;
  const owner = aliasOwner(findInterface(interfaceName)?.alias ?? null);
  return owner !== null && isRunning(owner);
}

if (isEntryPoint(import.meta.url)) {
  const [name, hostsPath, stateDir, grace] = process.argv.slice(2);
  if (name === undefined || hostsPath === undefined || stateDir === undefined) process.exit(2);
  await watch(name, hostsPath, stateDir, Number(grace ?? DEFAULT_CLEANUP_GRACE_MS));
}
