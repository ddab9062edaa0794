/**
 * Install, upgrade and uninstall the privileged helper as an explicit plan: a list of file steps and
 * service-manager commands (argv arrays, never a shell) that can be printed, tested and then applied
 * (apply.ts). A plan is computed against what the install root holds now: it creates only missing
 * parents, removes whatever else is in the helper's directory once the new helper runs, and writes
 * the manifest last.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { CommandArgv } from '../../main/system/run-command.ts';
import {
  ancestors,
  COPY_CONCURRENCY,
  exists,
  inParallel,
  installError,
  isUnder,
  resolveUnder,
  sha256File,
  walk,
} from './files.ts';
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
import { MANIFEST_FORMAT, readManifest, type InstallManifest } from './manifest.ts';
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
