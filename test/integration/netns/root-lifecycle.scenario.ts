/**
 * Runs inside `unshare -m -n` with a private /etc (root-lifecycle.test.ts): how a root daemon ends.
 * kill -9 (the watchdog cleans up after the grace period), kill -9 then `ngrokd cleanup`, SIGTERM at
 * many points of start-up, and SIGTERM with a full disk. Prints one JSON object of observations.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSimulator } from '../../sim/simulator.ts';
import { assertPrivateEtc, waitForListening, writeDaemonConfig } from '../../support/private-etc.ts';

assertPrivateEtc();
const run = promisify(execFile);
const cli = join(new URL('../../..', import.meta.url).pathname, 'main/cli/ngrokd.ts');
const sim = await startSimulator({ endpoints: [{ url: 'http://my-api.ngrok.app' }] });
const { NGROKD_HOSTS_PATH: _, ...baseEnv } = process.env;
const hostsBefore = readFileSync('/etc/hosts', 'utf8');
const results: Record<string, unknown> = { hostsBefore };
const dirs: string[] = [];
/** SIGTERM 0, 200, … 1,400 ms after spawning: from before the handlers exist to a running daemon. */
const STARTUP_TRIES = 8;

function newConfig(dir = mkdtempSync(join(tmpdir(), 'ngrokd-life-'))): { config: string; dir: string } {
  dirs.push(dir);
  return { config: writeDaemonConfig(dir, sim).config, dir };
}
/** End the watchdogs started for `dir`'s daemons (none left is fine). */
function stopWatchdogs(dir: string): void {
  spawnSync('pkill', ['-f', dir], { stdio: 'ignore' });
}
const links = (): string[] =>
  (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]).map(
    (l) => l.ifname,
  );
const state = (dir: string) => ({
  interface: links().includes('ngrokd0'),
  section: readFileSync('/etc/hosts', 'utf8').includes('ngrokd managed section'),
  socket: existsSync(join(dir, 'ngrokd.sock')),
});
function daemon(config: string, graceMs: number): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [cli, 'daemon', '--config', config], {
    env: { ...baseEnv, NGROKD_CLEANUP_GRACE_MS: String(graceMs) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, stderr: () => stderr };
}
const exited = (child: ChildProcess): Promise<{ code: number | null; signal: string | null }> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
const ctl = async (config: string, ...args: string[]) =>
  run(process.execPath, [cli, ...args, '--config', config], { env: baseEnv }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }),
  );
async function until<T>(look: () => T, done: (v: T) => boolean): Promise<{ held: boolean; value: T }> {
  for (let i = 0; i < 300; i++) {
    const value = look();
    if (done(value)) return { held: true, value };
    await new Promise((r) => setTimeout(r, 100));
  }
  return { held: false, value: look() };
}

try {
  // A. kill -9: the watchdog removes the interface and the section after the grace period.
  {
    const { config, dir } = newConfig();
    const d = daemon(config, 300);
    await waitForListening(async () => (await ctl(config, 'list', '--json')).stdout, 1);
    results.beforeKill = state(dir);
    d.child.kill('SIGKILL');
    await exited(d.child);
    results.afterKill = await until(
      () => state(dir),
      (s) => !s.interface && !s.section,
    );
  }

  // B. kill -9 with the watchdog still waiting: `ngrokd cleanup` (refused while a daemon runs).
  {
    const { config, dir } = newConfig();
    const d = daemon(config, 600_000);
    await waitForListening(async () => (await ctl(config, 'list', '--json')).stdout, 1);
    results.cleanupWhileRunning = await ctl(config, 'cleanup');
    d.child.kill('SIGKILL');
    await exited(d.child);
    results.leftAfterKill = state(dir);
    results.cleanup = await ctl(config, 'cleanup');
    results.afterCleanup = state(dir);
    results.hostsAfterCleanup = readFileSync('/etc/hosts', 'utf8');
    results.cleanupAgain = await ctl(config, 'cleanup');
    stopWatchdogs(dir);
  }

  // C. SIGTERM at many points of start-up: everything made is removed, or the exit says what is left.
  {
    const tries: unknown[] = [];
    for (let i = 0; i < STARTUP_TRIES; i++) {
      const { config, dir } = newConfig();
      const d = daemon(config, 600_000);
      await new Promise((r) => setTimeout(r, i * 200));
      d.child.kill('SIGTERM');
      const end = await exited(d.child);
      tries.push({ delayMs: i * 200, ...end, ...state(dir), stderr: d.stderr().slice(-400) });
      stopWatchdogs(dir);
      await ctl(config, 'cleanup');
    }
    results.startupSigterm = tries;
  }

  // D. SIGTERM on a full disk: the interface still goes, the exit is 1 and names what is left.
  {
    const dir = mkdtempSync(join(tmpdir(), 'ngrokd-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir]);
    const { config } = newConfig(dir);
    writeFileSync(join(dir, 'hosts'), readFileSync('/etc/hosts'));
    execFileSync('mount', ['--bind', join(dir, 'hosts'), '/etc/hosts']);
    const d = daemon(config, 600_000);
    await waitForListening(async () => (await ctl(config, 'list', '--json')).stdout, 1);
    mkdirSync(join(dir, 'state'), { recursive: true });
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      // dd stops with "No space left on device": that is the point.
    }
    d.child.kill('SIGTERM');
    const end = await exited(d.child);
    results.fullDisk = { ...end, ...state(dir), stderr: d.stderr().slice(-600) };
    execFileSync('rm', ['-f', join(dir, 'filler')]);
    results.fullDiskCleanup = await ctl(config, 'cleanup');
    results.fullDiskAfterCleanup = { ...state(dir), hosts: readFileSync('/etc/hosts', 'utf8') };
    stopWatchdogs(dir);
    execFileSync('umount', ['/etc/hosts']);
  }
} catch (err) {
  results.error = err instanceof Error ? err.stack : String(err);
} finally {
  for (const dir of dirs) stopWatchdogs(dir);
  await sim.close();
  process.stdout.write(`${JSON.stringify(results)}\n`);
}
