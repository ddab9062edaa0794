/**
 * What gets installed: a self-contained copy of the Node runtime, the helper's TypeScript and the
 * packages it imports. A HelperSource is just that list of files, so the packaged app can point at
 * its bundled resources instead of a checkout. From an AppImage the files live on a FUSE
 * mount that root usually cannot read and that disappears when the app exits: the elevated installer
 * must copy them out (it does, into the version directory) and never reference the mount afterwards.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, sep } from 'node:path';
import { NgrokdError } from '../../main/common/errors.ts';
import { APP_DIR, RUNTIME_FILE } from './layout.ts';

export interface SourceFile {
  /** Absolute path to copy from. */
  from: string;
  /** Destination relative to the version directory, with `/` separators. */
  to: string;
  executable: boolean;
}

export interface HelperSource {
  /** Where the files come from, for messages. */
  description: string;
  files: readonly SourceFile[];
}

/** Directories of the app whose TypeScript the helper may import (see the helper lint rule). */
const CODE_DIRS = ['helper', 'main/common', 'main/system'];
/** The app's side of the protocol (client, installer, prompt): never run by the helper. */
const APP_SIDE_DIR = 'helper/client';

function sourceError(message: string, fix: string): NgrokdError {
  return new NgrokdError('HELPER_ERROR', message, fix);
}

/** Package content never loaded at run time (Node does not strip types under node_modules). */
const UNUSED_DIRS = new Set([
  'test',
  'tests',
  '__tests__',
  'bench',
  'benchmarks',
  'doc',
  'docs',
  'example',
  'examples',
  '.github',
]);
const UNUSED_FILES = /\.(?:ts|cts|mts|map|md|markdown|ya?ml|c|cc|cpp|h|hh|S)$|^CMakeLists\.txt$/;

async function listFiles(dir: string, skipUnused = false): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!(skipUnused && UNUSED_DIRS.has(entry.name))) out.push(...(await listFiles(path, skipUnused)));
    } else if (entry.isFile() && !(skipUnused && UNUSED_FILES.test(entry.name))) {
      // Symlinks and special files are never copied into a root-owned tree.
      out.push(path);
    }
  }
  return out.sort();
}

const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s*)?['"]([^'"\n]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;

/** Module specifiers a file loads at run time (`import type` is erased and not counted). */
export function runtimeImports(code: string): string[] {
  const found = new Set<string>();
  for (const pattern of [STATIC_IMPORT, DYNAMIC_IMPORT]) {
    for (const match of code.matchAll(pattern)) if (match[1] !== undefined) found.add(match[1]);
  }
  return [...found];
}

const BUILTINS = new Set(builtinModules);

/** The npm package a bare specifier names, or null for relative paths and Node built-ins. */
export function packageName(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  return BUILTINS.has(name) ? null : name;
}

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** The packages `roots` need, following dependencies; optional ones are taken when installed. */
async function packageClosure(nodeModules: string, roots: Iterable<string>): Promise<string[]> {
  const seen = new Set<string>();
  const queue = [...roots].map((name) => ({ name, optional: false }));
  while (queue.length > 0) {
    const { name, optional } = queue.shift() as { name: string; optional: boolean };
    if (seen.has(name)) continue;
    let pkg: PackageJson;
    try {
      pkg = JSON.parse(await readFile(join(nodeModules, name, 'package.json'), 'utf8')) as PackageJson;
    } catch {
      if (optional) continue;
      throw sourceError(
        `package ${JSON.stringify(name)} needed by the helper is not in ${nodeModules}`,
        'Run `npm ci` in the app directory, then install the helper again.',
      );
    }
    seen.add(name);
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, optional: false });
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, optional: true });
  }
  return [...seen].sort();
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}

/**
 * The helper as found in a checkout (or an unpacked app with the same shape): `root/helper`,
 * `root/main/common`, `root/main/system`, `root/node_modules`, plus `runtime` (default: this Node binary). Every relative
 * import must stay inside those directories (or be the package.json the installer generates); the
 * packages imported are copied with their dependencies.
 */
export async function checkoutSource(options: { root: string; runtime?: string }): Promise<HelperSource> {
  const { root } = options;
  const runtime = options.runtime ?? process.execPath;
  const runtimeStat = await stat(runtime).catch(() => null);
  if (runtimeStat === null || !runtimeStat.isFile()) {
    throw sourceError(
      `Node runtime ${JSON.stringify(runtime)} is not a file`,
      'Pass the path of a Node 22 binary.',
    );
  }
  const files: SourceFile[] = [{ from: runtime, to: RUNTIME_FILE, executable: true }];
  const code = new Set<string>();
  for (const dir of CODE_DIRS) {
    const found = await listFiles(join(root, dir)).catch(() => {
      throw sourceError(
        `${JSON.stringify(join(root, dir))} is missing: ${JSON.stringify(root)} is not an ngrokd checkout`,
        'Point the installer at the app directory that contains helper/, main/common/ and main/system/.',
      );
    });
    for (const path of found) {
      if (path.startsWith(join(root, APP_SIDE_DIR) + sep)) continue;
      if (path.endsWith('.ts') && !path.endsWith('.test.ts')) code.add(path);
    }
  }
  const packages = new Set<string>();
  for (const path of code) {
    for (const specifier of runtimeImports(await readFile(path, 'utf8'))) {
      const name = packageName(specifier);
      const target = join(dirname(path), specifier);
      if (name !== null) packages.add(name);
      else if (specifier.startsWith('.') && !code.has(target) && target !== join(root, 'package.json')) {
        throw sourceError(
          `${relative(root, path)} imports ${JSON.stringify(specifier)}, which is not part of the helper (helper/, main/common/, main/system/)`,
          'Keep helper imports inside helper/, main/common/ and main/system/ (see the lint rule for helper/).',
        );
      }
    }
    files.push({ from: path, to: posix.join(APP_DIR, toPosix(relative(root, path))), executable: false });
  }
  const nodeModules = join(root, 'node_modules');
  for (const name of await packageClosure(nodeModules, packages)) {
    for (const path of await listFiles(join(nodeModules, name), true)) {
      const mode = (await stat(path)).mode;
      files.push({
        from: path,
        to: posix.join(APP_DIR, 'node_modules', toPosix(relative(nodeModules, path))),
        executable: (mode & 0o111) !== 0,
      });
    }
  }
  return { description: `checkout ${root}`, files };
}
