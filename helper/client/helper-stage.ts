/**
 * Staging: root never executes or installs from a file the user can still swap.
 *
 * When the helper's files sit in a user-owned directory (the copy out of an AppImage's FUSE mount),
 * the unprivileged app copies them there and, in the same pass, writes a manifest of what it copied:
 * one `sha256  relative/path` line per file. The one elevated command then, as root:
 *   1. creates a fresh directory with `mktemp -d` (mode 0700) under a root-only parent, so neither
 *      the copy nor Node's upward node_modules lookup from it reaches a directory a user can write;
 *   2. copies the manifest and the tree into it (cp -R: symlinks are copied as links, not followed);
 *   3. checks the manifest's sha256, which the app computed before elevation and put literally into
 *      the command, so a manifest rewritten to match swapped files is refused;
 *   4. refuses anything but regular files and directories, any file the manifest does not list (a
 *      planted node_modules/ would shadow a verified package), any listed file that is missing,
 *      and any file whose sha256 differs (`sha256sum -c --strict`);
 *   5. only then runs the installer with the staged copy of bin/node, from '/', and
 *   6. removes the staging directory however the command ends.
 * Every path is a single-quoted word (shellQuote); the only other values in the command are the
 * manifest's hash (checked to be 64 hex digits) and the staging directory mktemp chose.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NgrokdError } from '../../main/common/errors.ts';
import type { HelperPlatform } from '../install/layout.ts';

/**
 * One POSIX shell word that stands for exactly `arg`: single quotes make every byte literal, and a
 * quote inside becomes '\''. NUL cannot be passed in argv at all, and line breaks are refused because
 * the prompt wrappers treat the command as a line.
 */
export function shellQuote(arg: string): string {
  if (/[\0\n\r]/.test(arg)) {
    throw new NgrokdError(
      'HELPER_ERROR',
      `argument ${JSON.stringify(arg)} contains a NUL or line break and cannot be passed to the elevated installer`,
      'Move the app (or the Node binary) to a path without line breaks, then install the helper again.',
    );
  }
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** A prepared source root must copy into a root-owned directory and verify before running. */
export interface HelperStage {
  /** The manifest the app wrote: `sha256  relative/path` per file below the source root, sorted. */
  manifest: string;
  /** sha256 of the manifest's bytes, computed before elevation; root checks it first. */
  manifestSha256: string;
}

/**
 * Root-only parents for the staging directory. Not /tmp or /var/tmp: they are world-writable, and
 * Node looks for node_modules in every parent directory of the code it runs.
 */
export const STAGE_PARENT: Record<HelperPlatform, string> = { linux: '/var/cache', darwin: '/var/root' };
/** mktemp template prefix of a staging directory. */
export const STAGE_PREFIX = 'ngrokd-helper-stage.';
/** How the elevated command reports why it refused; parsed by stageFailure(). */
const MARK = 'ngrokd-stage:';

function stageError(message: string, fix: string, cause?: unknown): NgrokdError {
  return new NgrokdError('HELPER_ERROR', message, fix, cause === undefined ? undefined : { cause });
}

/** sha256sum's check format cannot carry these without escaping; the command compares lines. */
const UNLISTABLE = /[\n\r\\]/;

async function copyFileHashed(from: string, to: string, mode: number): Promise<string> {
  const hash = createHash('sha256');
  const out = await open(to, 'wx', 0o600);
  try {
    for await (const chunk of createReadStream(from, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      await out.write(chunk as Buffer);
    }
  } finally {
    await out.close();
  }
  await chmod(to, mode);
  return hash.digest('hex');
}

/**
 * Copy the tree `from` into the new directory `to` (following symlinks, like `cp -L`), hashing
 * exactly the bytes read, and write the manifest of the copy to `manifestPath`. The hashes come from
 * the source, never from re-reading the copy, so a swap at any time after this is detected by root.
 */
export async function copyTreeWithManifest(
  from: string,
  to: string,
  manifestPath: string,
): Promise<HelperStage> {
  const entries: { path: string; sha256: string }[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(rel === '' ? from : join(from, rel))).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (UNLISTABLE.test(path)) {
        throw stageError(
          `helper file ${JSON.stringify(join(from, path))} has a line break or backslash in its name`,
          'Reinstall the app; the helper bundle must contain plain file names.',
        );
      }
      const info = await stat(join(from, path));
      if (info.isDirectory()) {
        await mkdir(join(to, path), { mode: 0o755 });
        await walk(path);
      } else if (info.isFile()) {
        const mode = (info.mode & 0o111) !== 0 ? 0o755 : 0o644;
        entries.push({ path, sha256: await copyFileHashed(join(from, path), join(to, path), mode) });
      } else {
        throw stageError(
          `helper file ${JSON.stringify(join(from, path))} is not a regular file or directory`,
          'Reinstall the app; the helper bundle must contain only files and directories.',
        );
      }
    }
  };
  await mkdir(to, { mode: 0o700 });
  await walk('');
  const text = entries
    .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
    .map((e) => `${e.sha256}  ${e.path}\n`)
    .join('');
  await writeFile(manifestPath, text, { mode: 0o600, flag: 'wx' });
  return { manifest: manifestPath, manifestSha256: createHash('sha256').update(text).digest('hex') };
}

/** One word of the staged command: a literal argument, or a path inside the staged tree. */
export type StagedArg = string | { staged: string };

export interface StagedCommandOptions {
  platform: HelperPlatform;
  /** The user-side tree to copy (it holds bin/node, helper/, main/common/, node_modules/). */
  sourceRoot: string;
  stage: HelperStage;
  /** Root-only directory for mktemp. Default: STAGE_PARENT[platform]. */
  parent?: string;
  /** The program and its arguments, run as root from the verified staged copy. */
  argv: readonly StagedArg[];
}

/** The one-line shell command that stages, verifies, then runs `argv`. */
export function stagedCommand(options: StagedCommandOptions): string {
  const { platform, sourceRoot, stage, argv } = options;
  const q = shellQuote;
  const parent = options.parent ?? STAGE_PARENT[platform];
  if (!/^[0-9a-f]{64}$/.test(stage.manifestSha256)) {
    throw stageError(
      `the helper manifest hash ${JSON.stringify(stage.manifestSha256)} is not a sha256`,
      'This is a bug.',
    );
  }
  if (!parent.startsWith('/')) {
    throw stageError(
      `the staging parent ${JSON.stringify(parent)} is not an absolute path`,
      'This is a bug.',
    );
  }
  const sum = platform === 'darwin' ? 'shasum -a 256' : 'sha256sum';
  const fail = (code: number, kind: string) => `{ echo '${MARK} ${kind}'; exit ${code}; }`;
  const dir = '"$ngrokd_stage"';
  const tree = '"$ngrokd_stage/tree"';
  const word = (arg: StagedArg): string =>
    typeof arg === 'string' ? q(arg) : arg.staged === '' ? tree : `${tree}${q(`/${arg.staged}`)}`;
  return [
    // Root: a root-only parent. Not root (a test harness, or an elevation that failed to elevate):
    // nothing here is privileged, so the user's temp directory does.
    `if [ "$(id -u)" = 0 ]; then ngrokd_stage=$(mktemp -d ${q(`${parent}/${STAGE_PREFIX}XXXXXXXXXX`)});`,
    `else ngrokd_stage=$(mktemp -d "\${TMPDIR:-/tmp}/${STAGE_PREFIX}XXXXXXXXXX"); fi`,
    `&& [ -d ${dir} ] || ${fail(70, 'mktemp')};`,
    `trap 'rm -rf "$ngrokd_stage"' EXIT; trap 'exit 129' HUP INT TERM;`,
    `mkdir ${tree} && cp ${q(stage.manifest)} ${dir}/manifest && cp -R ${q(`${sourceRoot}/.`)} ${tree}`,
    `|| ${fail(71, 'copy')};`,
    `printf '%s  %s\\n' ${q(stage.manifestSha256)} ${dir}/manifest | ${sum} -c --strict --status`,
    `|| ${fail(72, 'manifest')};`,
    `cd ${tree} || ${fail(71, 'copy')};`,
    `ngrokd_check=$(find . ! -type f ! -type d) || ${fail(73, 'list')};`,
    `[ -z "$ngrokd_check" ] || { printf '%s\\n' "$ngrokd_check" | sed 's,^\\./,${MARK} not-regular: ,'; exit 74; };`,
    `find . -type f | sed 's,^\\./,,' | LC_ALL=C sort > ${dir}/found`,
    `&& sed 's/^[0-9a-f]\\{64\\}  //' ${dir}/manifest | LC_ALL=C sort > ${dir}/listed || ${fail(73, 'list')};`,
    `cmp -s ${dir}/listed ${dir}/found || {`,
    `LC_ALL=C comm -13 ${dir}/listed ${dir}/found | sed 's/^/${MARK} unexpected: /';`,
    `LC_ALL=C comm -23 ${dir}/listed ${dir}/found | sed 's/^/${MARK} missing: /'; exit 75; };`,
    `ngrokd_check=$(${sum} -c --strict --quiet ${dir}/manifest 2>/dev/null) || {`,
    `printf '%s\\n' "$ngrokd_check" | sed -n 's/^\\(.*\\): FAILED.*$/${MARK} modified: \\1/p'; ${fail(76, 'checksum')}; };`,
    `cd / && ${argv.map(word).join(' ')}`,
  ].join(' ');
}

/**
 * Why the staged command refused, as the NgrokdError to show; null when its output has no refusal.
 * File names in the output are relative to the staged tree.
 */
export function stageFailure(
  stdout: string,
  context: { sourceRoot: string; manifest: string; parent: string },
): NgrokdError | null {
  const lines = stdout
    .split('\n')
    .filter((line) => line.startsWith(`${MARK} `))
    .map((line) => line.slice(MARK.length + 1));
  if (lines.length === 0) return null;
  const kinds = new Set(lines.map((line) => line.split(':')[0]));
  const files = (kind: string) =>
    lines.filter((line) => line.startsWith(`${kind}: `)).map((line) => line.slice(kind.length + 2));
  if (kinds.has('mktemp')) {
    return stageError(
      `the elevated installer cannot create a root-only staging directory in ${context.parent}`,
      `Make sure ${context.parent} exists and has free space, then install the helper again.`,
    );
  }
  if (kinds.has('copy')) {
    return stageError(
      `the elevated installer cannot copy ${JSON.stringify(context.sourceRoot)} into a root-only staging directory`,
      'Make sure the temp directory is readable by root (not a network or FUSE home without allow_root) and the disk has space, then install again.',
    );
  }
  if (kinds.has('list')) {
    return stageError(
      `the elevated installer cannot list the staged copy of ${JSON.stringify(context.sourceRoot)}`,
      `Make sure ${context.parent} has free space, then install the helper again.`,
    );
  }
  const problems: string[] = [];
  if (kinds.has('manifest')) problems.push(`the file list ${JSON.stringify(context.manifest)} was rewritten`);
  for (const file of files('not-regular')) problems.push(`${JSON.stringify(file)} is not a regular file`);
  for (const file of files('unexpected')) problems.push(`${JSON.stringify(file)} was added`);
  for (const file of files('missing')) problems.push(`${JSON.stringify(file)} was removed`);
  for (const file of files('modified')) problems.push(`${JSON.stringify(file)} was modified`);
  if (problems.length === 0) problems.push('the files do not match their checksums');
  return stageError(
    `the helper files in ${JSON.stringify(context.sourceRoot)} changed after ngrokd prepared them, so nothing was run or installed as root: ${problems.join(', ')}`,
    'Another program changed the copied helper files while the password prompt was open. Install the helper again; if it happens again, check this computer for software that modifies files in your temp directory.',
  );
}
