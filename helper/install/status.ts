/**
 * What is installed under a root, checked against the manifest: every file still has its hash,
 * owner and mode, and nothing unexpected has appeared in the helper's directory. Anything else is
 * reported as tampered, one line per problem, naming the path.
 */
import { lstat } from 'node:fs/promises';
import { exists, installOwner, isUnder, resolveUnder, sha256File, walk } from './files.ts';
import { helperLayout, type HelperPlatform } from './layout.ts';
import { readManifest } from './manifest.ts';

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
