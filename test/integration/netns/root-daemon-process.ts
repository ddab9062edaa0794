/**
 * Inside a root scenario (private mount and network namespaces, see test/support/private-etc.ts):
 * `ngrokd daemon --config FILE` as a child process exactly as `sudo npm run ngrokd -- daemon` runs
 * it, its control commands, bounded polling of `status --json`, and its end. Asynchronous
 * throughout: the scenario process also hosts the simulator, which must keep answering.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StatusView } from '../../../main/common/contract.ts';

export const run = promisify(execFile);
const cli = join(new URL('../../..', import.meta.url).pathname, 'main/cli/ngrokd.ts');
/** The daemon uses the real /etc/hosts of the namespace. */
const { NGROKD_HOSTS_PATH: _, ...env } = process.env;

export interface DaemonProcess {
  /** `ngrokd <args> --config FILE`'s stdout. */
  ctl(...args: string[]): Promise<string>;
  status(): Promise<StatusView>;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
  /** Its exit code once it exits by itself (a refused start). */
  readonly exited: Promise<number | null>;
  stderr(): string;
}

export function startRootDaemon(config: string): DaemonProcess {
  return startDaemonProcess(config, { env });
}

/**
 * The daemon as `as.uid` (setpriv: real and effective ids, no supplementary groups) with `as.env`,
 * as a normal user runs it next to the helper; without `as`, as root.
 */
export function startDaemonProcess(
  config: string,
  as: { uid?: number; env: NodeJS.ProcessEnv },
): DaemonProcess {
  const prefix =
    as.uid === undefined ? [] : ['--reuid', String(as.uid), '--regid', String(as.uid), '--clear-groups'];
  const command = (args: string[]): [string, string[]] =>
    as.uid === undefined
      ? [process.execPath, [cli, ...args]]
      : ['setpriv', [...prefix, process.execPath, cli, ...args]];
  const [file, argv] = command(['daemon', '--config', config]);
  const child = spawn(file, argv, { env: as.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ctl = async (...args: string[]): Promise<string> => {
    const [ctlFile, ctlArgv] = command([...args, '--config', config]);
    return (await run(ctlFile, ctlArgv, { env: as.env, timeout: 30_000 })).stdout;
  };
  return {
    ctl,
    status: async () => JSON.parse(await ctl('status', '--json')) as StatusView,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    exited,
    stderr: () => stderr,
  };
}

/**
 * Poll `status --json` until `done` holds or `timeoutMs` pass (a loaded machine is slow, never
 * wrong); the last status seen and whether `done` held.
 */
export async function pollStatus(
  daemon: DaemonProcess,
  done: (status: StatusView) => boolean,
  timeoutMs = 30_000,
): Promise<{ status: StatusView | null; ok: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let status: StatusView | null = null;
  for (;;) {
    try {
      status = await daemon.status();
      if (done(status)) return { status, ok: true };
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) return { status, ok: false };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** `curl` by name through /etc/hosts; its body, or the error text. */
export async function curl(url: string): Promise<string> {
  return run('curl', ['-s', '--max-time', '10', url]).then(
    (r) => r.stdout,
    (err: Error) => `curl failed: ${err.message}`,
  );
}
