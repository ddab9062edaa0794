/**
 * Install, upgrade and uninstall the privileged helper as an explicit plan: a list of file steps and
 * service-manager commands (argv arrays, never a shell) that can be printed, tested and then applied
 * under any root directory: '/' for real, a temp dir in tests. Every created path is owned by root
 * (gid 0: root on Linux, wheel on macOS) and never group- or other-writable, so nobody but root can
 * change the code root runs. A manifest (version, uid, every file with its sha256) written last
 * records what was installed: status checks it, uninstall removes exactly that.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
} from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { z } from 'zod';
import { NgrokdError } from '../../main/common/errors.ts';
import { writeFileAtomic } from '../../main/system/atomic-write.ts';
import { runCommand, type CommandArgv, type CommandRunner } from '../../main/system/run-command.ts';
import { launchdPlist } from './launchd.ts';
import {
  APP_DIR,
  appPackageJson,
  HELPER_LABEL,
  helperLayout,
  teardownArgv,
  validateUid,
  validateVersion,
  versionDir,
  type HelperLayout,
  type HelperPlatform,
} from './layout.ts';
import type { HelperSource } from './source.ts';
import { systemdUnit } from './systemd.ts';

export type InstallStep =
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'copy'; from: string; path: string; mode: number; sha256: string }
  | { op: 'write'; path: string; mode: number; content: string }
  /** A file or a whole directory tree; a missing path is fine. */
  | { op: 'remove'; path: string }
  /** A directory only when it is empty: parents the install created and someone may have used since. */
  | { op: 'rmdir'; path: string }
  /** `mayFail`: a failure is recorded as a warning (stopping a service that is not running). */
  | { op: 'run'; argv: CommandArgv; why: string; mayFail: boolean };

/** Every step but `run`: what rollback may contain. */
export type FileStep = Exclude<InstallStep, { op: 'run' }>;

export interface InstallPlan {
  action: 'install' | 'upgrade' | 'reinstall' | 'uninstall';
  platform: HelperPlatform;
  /** Version installed before, null when none (or unreadable). */
  from: string | null;
  /** Version installed after, null for uninstall. */
  to: string | null;
  steps: InstallStep[];
  /** Run (best effort) when a step up to `commitStep` fails: removes what a failed install created. */
  rollback: FileStep[];
  commitStep: number;
}

export interface InstallRequest {
  root: string;
  platform: HelperPlatform;
  version: string;
  /** The one non-root user the helper will serve. */
  uid: number;
  source: HelperSource;
}

const DIR_MODE = 0o755;
const FILE_MODE = 0o644;
const EXEC_MODE = 0o755;
const MANIFEST_FORMAT = 1;

const manifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    platform: z.enum(['linux', 'darwin']),
    version: z.string(),
    uid: z.number().int(),
    installedAt: z.string(),
    /** Directories this install created, parents first (including missing parents of the layout). */
    dirs: z.array(z.string()),
    files: z.array(
      z
        .object({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), mode: z.number().int() })
        .strict(),
    ),
  })
  .strict();

export type InstallManifest = z.infer<typeof manifestSchema>;

function installError(message: string, fix: string, cause?: unknown): NgrokdError {
  return new NgrokdError('HELPER_ERROR', message, fix, cause === undefined ? undefined : { cause });
}

function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** `path` (absolute, on the real system) inside `root`. Refuses anything that could escape it. */
export function resolveUnder(root: string, path: string): string {
  if (!path.startsWith('/') || posix.normalize(path) !== path || path.split('/').includes('..')) {
    throw installError(
      `install path ${JSON.stringify(path)} is not absolute and normalised`,
      'This is a bug.',
    );
  }
  return root === '/' ? path : join(root, path);
}

/** Each ancestor of an absolute path, outermost first, excluding '/' and the path itself. */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** Streamed: reading a 100 MB runtime into one buffer is several times slower. */
async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every file below `dir` (absolute real-system paths), or none when it does not exist. */
async function walk(root: string, dir: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  let entries;
  try {
    entries = await readdir(resolveUnder(root, dir), { withFileTypes: true });
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { files, dirs };
    throw err;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      dirs.push(path);
      const below = await walk(root, path);
      files.push(...below.files);
      dirs.push(...below.dirs);
    } else {
      files.push(path);
    }
  }
  return { files, dirs };
}

/** Paths a manifest may name: inside the helper's directory, the service file, or their parents. */
function manifestProblem(layout: HelperLayout, manifest: InstallManifest): string | null {
  const parents = new Set([...ancestors(layout.baseDir), ...ancestors(layout.serviceFile)]);
  for (const file of manifest.files) {
    if (!isUnder(file.path, layout.baseDir) && file.path !== layout.serviceFile) {
      return `it lists ${JSON.stringify(file.path)}, outside ${layout.baseDir}`;
    }
  }
  for (const dir of manifest.dirs) {
    if (!isUnder(dir, layout.baseDir) && !parents.has(dir))
      return `it lists directory ${JSON.stringify(dir)}`;
  }
  if (manifest.platform !== layout.platform) return `it is for ${manifest.platform}`;
  return null;
}

type ManifestRead = { manifest: InstallManifest } | { manifest: null; problem: string | null };

/** The installed manifest; `problem` says why an existing one cannot be trusted. */
export async function readManifest(root: string, layout: HelperLayout): Promise<ManifestRead> {
  let text: string;
  try {
    text = await readFile(resolveUnder(root, layout.manifestPath), 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { manifest: null, problem: null };
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { manifest: null, problem: `${layout.manifestPath} is not JSON` };
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) return { manifest: null, problem: `${layout.manifestPath} is not a valid manifest` };
  const problem = manifestProblem(layout, parsed.data);
  if (problem !== null)
    return { manifest: null, problem: `${layout.manifestPath} is not trusted: ${problem}` };
  return { manifest: parsed.data };
}

function serviceStartSteps(layout: HelperLayout, restart: boolean): InstallStep[] {
  if (layout.platform === 'darwin') {
    const target = `system/${HELPER_LABEL}`;
    return [
      // bootstrap refuses a loaded job, and a changed plist is only read on bootstrap.
      { op: 'run', argv: ['/bin/launchctl', 'bootout', target], why: 'unload the old helper', mayFail: true },
      {
        op: 'run',
        argv: ['/bin/launchctl', 'enable', target],
        why: 'allow the helper to load',
        mayFail: false,
      },
      {
        op: 'run',
        argv: ['/bin/launchctl', 'bootstrap', 'system', layout.serviceFile],
        why: 'load and start the helper',
        mayFail: false,
      },
    ];
  }
  const steps: InstallStep[] = [
    { op: 'run', argv: ['systemctl', 'daemon-reload'], why: 'read the new unit', mayFail: false },
    {
      op: 'run',
      argv: ['systemctl', 'enable', '--now', layout.serviceName],
      why: 'start the helper now and at boot',
      mayFail: false,
    },
  ];
  if (restart) {
    steps.push({
      op: 'run',
      argv: ['systemctl', 'restart', layout.serviceName],
      why: 'switch the running helper to the new files',
      mayFail: false,
    });
  }
  return steps;
}

function serviceStopSteps(layout: HelperLayout): InstallStep[] {
  if (layout.platform === 'darwin') {
    return [
      {
        op: 'run',
        argv: ['/bin/launchctl', 'bootout', `system/${HELPER_LABEL}`],
        why: 'stop and unload the helper',
        mayFail: true,
      },
    ];
  }
  return [
    {
      op: 'run',
      argv: ['systemctl', 'disable', '--now', layout.serviceName],
      why: 'stop the helper and remove it from boot',
      mayFail: true,
    },
  ];
}

/** Parent directories of the layout that do not exist yet under `root`: the install creates them. */
async function missingParents(root: string, layout: HelperLayout): Promise<string[]> {
  const wanted = [
    ...new Set([...ancestors(layout.baseDir), layout.baseDir, ...ancestors(layout.serviceFile)]),
  ];
  const missing: string[] = [];
  for (const dir of wanted.sort()) if (!(await exists(resolveUnder(root, dir)))) missing.push(dir);
  return missing;
}

/** The steps that install (or upgrade to) `version`, computed against what `root` holds now. */
export async function planInstall(request: InstallRequest): Promise<InstallPlan> {
  const { root, platform, source } = request;
  const version = validateVersion(request.version);
  const uid = validateUid(request.uid);
  const layout = helperLayout(platform);
  const previous = await readManifest(root, layout);
  const old = previous.manifest;
  const target = versionDir(layout, version);
  const targetExisted = await exists(resolveUnder(root, target));

  const createdParents = await missingParents(root, layout);
  const fileDirs = new Set<string>([target]);
  const copies: Extract<InstallStep, { op: 'copy' }>[] = [];
  const seen = new Set<string>();
  for (const file of source.files) {
    const path = posix.normalize(`${target}/${file.to}`);
    if (!isUnder(path, target) || path === target || seen.has(path)) {
      throw installError(
        `source file destination ${JSON.stringify(file.to)} is invalid or repeated`,
        'This is a bug.',
      );
    }
    seen.add(path);
    for (const dir of ancestors(path)) if (isUnder(dir, target)) fileDirs.add(dir);
    copies.push({
      op: 'copy',
      from: file.from,
      path,
      mode: file.executable ? EXEC_MODE : FILE_MODE,
      sha256: '',
    });
  }
  const unreadable = await inParallel(copies, COPY_CONCURRENCY, async (copy) => {
    copy.sha256 = await sha256File(copy.from);
  });
  if (unreadable !== null) {
    const from = copies[unreadable.index]?.from ?? '';
    throw installError(
      `cannot read ${JSON.stringify(from)} from ${source.description}: ${String(unreadable.error)}`,
      'Reinstall the app (or run `npm ci` in the checkout), then install the helper again.',
      unreadable.error,
    );
  }
  const manifestFiles: InstallManifest['files'] = copies.map(({ path, sha256, mode }) => ({
    path,
    sha256,
    mode,
  }));

  const generated: { path: string; content: string }[] = [
    { path: `${target}/${APP_DIR}/package.json`, content: appPackageJson(version) },
    {
      path: layout.serviceFile,
      content: platform === 'darwin' ? launchdPlist(layout, version, uid) : systemdUnit(layout, version, uid),
    },
  ];
  const writes: InstallStep[] = generated.map(({ path, content }) => {
    const sha256 = createHash('sha256').update(content).digest('hex');
    manifestFiles.push({ path, sha256, mode: FILE_MODE });
    for (const dir of ancestors(path)) if (isUnder(dir, target)) fileDirs.add(dir);
    return { op: 'write', path, mode: FILE_MODE, content };
  });

  // Whatever else is in the base directory (older versions, stray files, leftovers in this version's
  // directory from a previous build) goes once the new helper runs.
  const wantedFiles = new Set([...manifestFiles.map((f) => f.path), layout.manifestPath]);
  const found = await walk(root, layout.baseDir);
  const stale: InstallStep[] = [];
  const staleDirs: string[] = [];
  for (const dir of found.dirs.sort()) {
    if (fileDirs.has(dir) || staleDirs.some((gone) => isUnder(dir, gone))) continue;
    staleDirs.push(dir);
    stale.push({ op: 'remove', path: dir });
  }
  for (const file of found.files) {
    if (wantedFiles.has(file) || staleDirs.some((gone) => isUnder(file, gone))) continue;
    stale.push({ op: 'remove', path: file });
  }

  // Parents an earlier install created stay recorded, so uninstall still removes them.
  const earlierParents = old?.dirs.filter((d) => !isUnder(d, layout.baseDir) || d === layout.baseDir) ?? [];
  const dirs = [...new Set([...earlierParents, ...createdParents, ...fileDirs])].sort();
  const manifest: InstallManifest = {
    format: MANIFEST_FORMAT,
    platform,
    version,
    uid,
    installedAt: new Date().toISOString(),
    dirs,
    files: manifestFiles.sort((a, b) => (a.path < b.path ? -1 : 1)),
  };

  const steps: InstallStep[] = [
    ...createdParents.map((path): InstallStep => ({ op: 'mkdir', path, mode: DIR_MODE })),
    ...[...fileDirs].sort().map((path): InstallStep => ({ op: 'mkdir', path, mode: DIR_MODE })),
    ...copies,
    ...writes,
  ];
  const commitStep = steps.length - 1;
  const replacing = old !== null || (await exists(resolveUnder(root, layout.serviceFile)));
  steps.push(...serviceStartSteps(layout, replacing), ...stale, {
    op: 'write',
    path: layout.manifestPath,
    mode: FILE_MODE,
    content: `${JSON.stringify(manifest, null, 2)}\n`,
  });

  const rollback: FileStep[] = [];
  if (!targetExisted) rollback.push({ op: 'remove', path: target });
  rollback.push(...[...createdParents].reverse().map((path): FileStep => ({ op: 'rmdir', path })));

  const from = old?.version ?? null;
  return {
    action: from === null ? 'install' : from === version ? 'reinstall' : 'upgrade',
    platform,
    from,
    to: version,
    steps,
    rollback,
    commitStep,
  };
}

/**
 * The steps that remove everything an install made. The running helper is stopped first (it cleans
 * up on SIGTERM), then the installed binary runs `--teardown` so the interface, the addresses and the
 * hosts section go even when the helper was not running.
 */
export async function planUninstall(options: {
  root: string;
  platform: HelperPlatform;
}): Promise<InstallPlan> {
  const layout = helperLayout(options.platform);
  const { manifest } = await readManifest(options.root, layout);
  const steps: InstallStep[] = [...serviceStopSteps(layout)];
  if (manifest !== null) {
    steps.push({
      op: 'run',
      argv: teardownArgv(layout, manifest.version),
      why: 'remove the interface, addresses and hosts section',
      mayFail: true,
    });
  }
  steps.push({ op: 'remove', path: layout.serviceFile });
  if (layout.platform === 'linux') {
    steps.push({ op: 'run', argv: ['systemctl', 'daemon-reload'], why: 'forget the unit', mayFail: true });
  }
  steps.push({ op: 'remove', path: layout.baseDir });
  if (layout.logFile !== null) steps.push({ op: 'remove', path: layout.logFile });
  const parents = (manifest?.dirs ?? []).filter((dir) => !isUnder(dir, layout.baseDir));
  steps.push(
    ...parents
      .sort()
      .reverse()
      .map((path): InstallStep => ({ op: 'rmdir', path })),
  );
  return {
    action: 'uninstall',
    platform: layout.platform,
    from: manifest?.version ?? null,
    to: null,
    steps,
    rollback: [],
    commitStep: -1,
  };
}

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

/** Owner of everything installed: root, or the current user for a test root when not root. */
function installOwner(root: string): number | null {
  const euid = process.geteuid?.() ?? 0;
  return euid === 0 || root === '/' ? 0 : null;
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

const COPY_CONCURRENCY = 16;

/** Run `fn` over `items`, at most `limit` at a time; the first failure (after all settle), or null. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<{ index: number; error: unknown } | null> {
  let next = 0;
  const failures: { index: number; error: unknown }[] = [];
  const worker = async () => {
    while (next < items.length && failures.length === 0) {
      const index = next++;
      try {
        await fn(items[index] as T);
      } catch (error) {
        failures.push({ index, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failures.sort((a, b) => a.index - b.index)[0] ?? null;
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

export type HelperInstallState = 'missing' | 'intact' | 'tampered';

export interface HelperInstallStatus {
  state: HelperInstallState;
  platform: HelperPlatform;
  version: string | null;
  uid: number | null;
  installedAt: string | null;
  /** One line per problem found, naming the path. Empty when intact or missing. */
  problems: string[];
}

/** What is installed under `root`, and whether every file is still exactly as installed. */
export async function helperStatus(options: {
  root: string;
  platform: HelperPlatform;
}): Promise<HelperInstallStatus> {
  const { root } = options;
  const layout = helperLayout(options.platform);
  const read = await readManifest(root, layout);
  const base = { platform: layout.platform, version: null, uid: null, installedAt: null };
  if (read.manifest === null) {
    const leftovers = [];
    for (const path of [layout.baseDir, layout.serviceFile]) {
      if (await exists(resolveUnder(root, path))) leftovers.push(path);
    }
    if (read.problem === null && leftovers.length === 0) return { ...base, state: 'missing', problems: [] };
    const problems = read.problem !== null ? [read.problem] : [`${layout.manifestPath} is missing`];
    return {
      ...base,
      state: 'tampered',
      problems: [...problems, ...leftovers.map((p) => `left over: ${p}`)],
    };
  }
  const { manifest } = read;
  const owner = installOwner(root) ?? process.geteuid?.() ?? 0;
  const problems: string[] = [];
  const checkOwnership = (path: string, info: { uid: number; mode: number }, mode: number | null) => {
    if (info.uid !== owner) problems.push(`wrong owner (uid ${info.uid}): ${path}`);
    if (mode !== null && (info.mode & 0o7777) !== mode) {
      problems.push(`wrong mode ${(info.mode & 0o7777).toString(8)} (expected ${mode.toString(8)}): ${path}`);
    } else if ((info.mode & 0o022) !== 0) {
      problems.push(`group/other-writable: ${path}`);
    }
  };
  for (const file of manifest.files) {
    const info = await lstat(resolveUnder(root, file.path)).catch(() => null);
    if (info === null) {
      problems.push(`missing: ${file.path}`);
      continue;
    }
    if (!info.isFile()) {
      problems.push(`not a regular file: ${file.path}`);
      continue;
    }
    checkOwnership(file.path, info, file.mode);
    if ((await sha256File(resolveUnder(root, file.path))) !== file.sha256)
      problems.push(`modified: ${file.path}`);
  }
  for (const dir of manifest.dirs.filter((d) => isUnder(d, layout.baseDir))) {
    const info = await lstat(resolveUnder(root, dir)).catch(() => null);
    if (info === null || !info.isDirectory()) problems.push(`missing directory: ${dir}`);
    else checkOwnership(dir, info, null);
  }
  const known = new Set([...manifest.files.map((f) => f.path), layout.manifestPath]);
  const knownDirs = new Set(manifest.dirs);
  const found = await walk(root, layout.baseDir);
  for (const file of found.files) if (!known.has(file)) problems.push(`unexpected file: ${file}`);
  for (const dir of found.dirs) if (!knownDirs.has(dir)) problems.push(`unexpected directory: ${dir}`);
  return {
    state: problems.length === 0 ? 'intact' : 'tampered',
    platform: layout.platform,
    version: manifest.version,
    uid: manifest.uid,
    installedAt: manifest.installedAt,
    problems,
  };
}
