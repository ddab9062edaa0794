/**
 * Apply an install plan under a root directory: '/' for real, a temp dir in tests. Every created
 * path is owned by root (gid 0: root on Linux, wheel on macOS) and never group- or other-writable,
 * and every existing parent is checked to be the same, so nobody but root can change the code root
 * runs. Copies land by rename after their bytes are checked against the plan, so a running helper
 * keeps its old files and the manifest always describes what is on disk.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, open, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorCode, NgrokdError } from '../../main/common/errors.ts';
import { writeFileAtomic } from '../../main/system/atomic-write.ts';
import { runCommand, type CommandArgv, type CommandRunner } from '../../main/system/run-command.ts';
import {
  ancestors,
  COPY_CONCURRENCY,
  inParallel,
  installError,
  installOwner,
  resolveUnder,
  sha256File,
} from './files.ts';
import type { FileStep, InstallPlan, InstallStep } from './plan.ts';

export interface ApplyOptions {
  root: string;
  /** Run service-manager commands. Default: only when root is '/'. */
  runCommands?: boolean;
  /** How commands run; a custom runner is required to run them under a root other than '/'. */
  run?: CommandRunner;
}

export interface ApplyResult {
  /** Commands that ran. */
  ran: CommandArgv[];
  /** Commands recorded but not run (root is not '/'). */
  skipped: CommandArgv[];
  /** Failures of steps allowed to fail. */
  warnings: string[];
}

class Applier {
  readonly #root: string;
  readonly #owner: number | null;
  readonly #checked = new Set<string>();
  readonly #unsynced = new Set<string>();

  constructor(root: string) {
    this.#root = root;
    this.#owner = installOwner(root);
  }

  path(path: string): string {
    return resolveUnder(this.#root, path);
  }

  /**
   * Every existing directory from the root down to `dir` must be a directory owned by root (or by
   * the test user) and not group/other-writable: otherwise someone else could swap the files root
   * will run. Homebrew's /usr/local on macOS is the classic example.
   */
  async assertSafeParents(dir: string): Promise<void> {
    const chain = this.#root === '/' ? ['/', ...ancestors(dir), dir] : [...ancestors(dir), dir];
    const expected = this.#owner ?? process.geteuid?.() ?? 0;
    for (const step of chain) {
      if (this.#checked.has(step)) continue;
      const info = await stat(this.path(step));
      if (!info.isDirectory() || info.uid !== expected || (info.mode & 0o022) !== 0) {
        throw installError(
          `${step} is not a root-owned directory closed to other users (owner uid ${info.uid}, mode ${(info.mode & 0o7777).toString(8)})`,
          `Make ${step} owned by root and not group- or world-writable (chown root ${step}; chmod go-w ${step}), then install again.`,
        );
      }
      this.#checked.add(step);
    }
  }

  async own(path: string, mode: number): Promise<void> {
    await chmod(path, mode);
    if (this.#owner !== null) await chown(path, this.#owner, 0);
  }

  /**
   * Copy in the kernel to a temp file beside the target, fix mode and owner, fsync, check that the
   * bytes that landed are the ones planned, then rename over the target: a running helper keeps its
   * old inode, and the manifest always describes what is on disk. The directory is synced by
   * syncDirectories() once per batch rather than once per file.
   */
  async #copy(from: string, path: string, mode: number, sha256: string): Promise<void> {
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await copyFile(from, temp, constants.COPYFILE_EXCL);
      const handle = await open(temp, 'r+');
      try {
        await handle.chmod(mode);
        if (this.#owner !== null) await handle.chown(this.#owner, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
      if ((await sha256File(temp)) !== sha256) {
        throw installError(
          `${from} changed while the helper was being installed`,
          'Install the helper again once the app files are no longer changing.',
        );
      }
      await rename(temp, path);
      this.#unsynced.add(dirname(path));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Make the renames of copied files durable. Best effort, like atomic-write's directory sync. */
  async syncDirectories(): Promise<void> {
    for (const dir of this.#unsynced) {
      const handle = await open(dir, 'r').catch(() => null);
      await handle?.sync().catch(() => undefined);
      await handle?.close();
    }
    this.#unsynced.clear();
  }

  async step(step: FileStep): Promise<void> {
    const path = this.path(step.path);
    switch (step.op) {
      case 'mkdir': {
        await this.assertSafeParents(dirname(step.path));
        try {
          await mkdir(path, { mode: 0o700 });
        } catch (err) {
          if (errorCode(err) !== 'EEXIST') throw err;
          if (!(await lstat(path)).isDirectory()) {
            throw installError(
              `${step.path} exists and is not a directory`,
              `Remove ${step.path}, then install again.`,
            );
          }
        }
        await this.own(path, step.mode);
        this.#checked.add(step.path);
        return;
      }
      case 'copy':
        await this.assertSafeParents(dirname(step.path));
        await this.#copy(step.from, path, step.mode, step.sha256);
        return;
      case 'write':
        await this.assertSafeParents(dirname(step.path));
        await writeFileAtomic(path, step.content, { mode: 0o600 });
        await this.own(path, step.mode);
        return;
      case 'remove':
        if (step.path === '/') throw installError('refusing to remove /', 'This is a bug.');
        await rm(path, { recursive: true, force: true });
        return;
      case 'rmdir':
        try {
          await rmdir(path);
        } catch (err) {
          if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(errorCode(err) ?? '')) throw err;
        }
        return;
    }
  }
}

function describe(step: InstallStep): string {
  return step.op === 'run' ? `run ${step.argv.join(' ')}` : `${step.op} ${step.path}`;
}

/** Execute a plan under `options.root`. Never uses a shell; stops at the first failing step. */
export async function applyPlan(plan: InstallPlan, options: ApplyOptions): Promise<ApplyResult> {
  const { root } = options;
  const runCommands = options.runCommands ?? root === '/';
  if (runCommands && root !== '/' && options.run === undefined) {
    throw installError(
      `refusing to run service commands for an install under ${root}`,
      'Pass runCommands: false (or a custom runner) when installing into a directory other than /.',
    );
  }
  const run = options.run ?? runCommand;
  const applier = new Applier(root);
  const result: ApplyResult = { ran: [], skipped: [], warnings: [] };
  const execute = async (step: InstallStep): Promise<void> => {
    if (step.op !== 'run') return applier.step(step);
    if (!runCommands) {
      result.skipped.push(step.argv);
      return;
    }
    try {
      await run(step.argv);
      result.ran.push(step.argv);
    } catch (err) {
      if (!step.mayFail) throw err;
      result.warnings.push(`${step.why}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  let index = 0;
  while (index < plan.steps.length) {
    // Consecutive copies are independent (their directories exist): run them concurrently, which
    // overlaps the per-file fsyncs.
    let end = index + 1;
    if (plan.steps[index]?.op === 'copy') while (plan.steps[end]?.op === 'copy') end += 1;
    const failure = await inParallel(plan.steps.slice(index, end), COPY_CONCURRENCY, execute);
    await applier.syncDirectories();
    if (failure !== null) {
      const failedIndex = index + failure.index;
      if (failedIndex <= plan.commitStep) {
        for (const undo of plan.rollback) await applier.step(undo).catch(() => undefined);
      }
      throw stepError(plan, failedIndex, failure.error);
    }
    index = end;
  }
  return result;
}

function stepError(plan: InstallPlan, index: number, err: unknown): NgrokdError {
  if (err instanceof NgrokdError) return err;
  const step = plan.steps[index] as InstallStep;
  const needsRoot = errorCode(err) === 'EPERM' || errorCode(err) === 'EACCES';
  return installError(
    `helper ${plan.action} failed at step ${index + 1} (${describe(step)}): ${err instanceof Error ? err.message : String(err)}`,
    needsRoot ? 'Run the helper installer as root (sudo).' : 'Fix the cause above and run it again.',
    err,
  );
}
