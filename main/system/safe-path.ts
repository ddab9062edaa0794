/**
 * Paths that a privileged process writes must be out of every other user's reach: otherwise a user
 * who can write a directory on the way can plant a symlink or swap a file, and root ends up writing
 * (or chmod-ing) a file of the attacker's choosing. The rule, checked component by component
 * without following anything first:
 *  - every directory on the way is owned by one of `owners` (root, and for a user's own daemon that
 *    user) and is not world-writable, nor group-writable unless the group is a trusted one (root's;
 *    macOS's `daemon`, which owns /var/run; a user's own primary group for their daemon), except that a
 *    sticky directory such as /tmp may be passed through (others cannot rename or delete what the
 *    owner put there);
 *  - the directory that holds the file itself is never writable by others, sticky or not;
 *  - a symlink is followed only when it is owned by an allowed owner and lies in a directory closed to
 *    others (a sticky world-writable directory lets anybody plant one), and its target is checked by
 *    the same rules;
 *  - the file itself, when it exists, is owned by an allowed owner, closed to others by the same
 *    rule, and of the expected type (a regular file, or a socket).
 * Returns the resolved path, which the caller then uses.
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { errorCode, NgrokdError, type ErrorCode } from '../common/errors.ts';

const MAX_SYMLINKS = 40;
const S_ISVTX = 0o1000;

export interface SafePathOptions {
  /** What the path is, for the message ("helper socket", "hosts file"). */
  what: string;
  /** uids allowed to own the directories and symlinks on the way. */
  owners: readonly number[];
  /** Error code of the refusal. */
  code?: ErrorCode;
  /** What the path must be when it exists. Default 'file'. */
  type?: 'file' | 'socket';
}

/** gid 0 everywhere; on macOS also gid 1 (daemon), the group of /var/run; a user's own primary group. */
function trustedGroups(): Set<number> {
  const groups = new Set([0]);
  if (process.platform === 'darwin') groups.add(1);
  const euid = process.geteuid?.() ?? 0;
  const egid = process.getegid?.();
  if (euid !== 0 && egid !== undefined) groups.add(egid);
  return groups;
}

function describe(stats: Stats): string {
  return `owner uid ${stats.uid}, mode ${(stats.mode & 0o7777).toString(8)}`;
}

/**
 * Check `path` (absolute) by the rules above and return it with every symlink resolved. The last
 * component need not exist (a socket about to be created); every directory before it must.
 */
export function resolveSafePath(path: string, options: SafePathOptions): string {
  const owners = new Set(options.owners);
  const refuse = (problem: string, fix: string): NgrokdError =>
    new NgrokdError(options.code ?? 'HELPER_ERROR', `${options.what} ${path}: ${problem}`, fix);
  if (!isAbsolute(path)) throw refuse('is not an absolute path', 'Use an absolute path.');

  const pending = path.split('/').filter((part) => part !== '' && part !== '.');
  let current = '/';
  let currentStats = lstatSync(current);
  let hops = 0;
  const groups = trustedGroups();
  const closedToOthers = (stats: Stats): boolean =>
    (stats.mode & 0o002) === 0 && ((stats.mode & 0o020) === 0 || groups.has(stats.gid));
  const checkDirectory = (dir: string, stats: Stats, holdsTarget: boolean): void => {
    const sticky = (stats.mode & S_ISVTX) !== 0;
    if (
      !stats.isDirectory() ||
      !owners.has(stats.uid) ||
      !(closedToOthers(stats) || (sticky && !holdsTarget))
    )
      throw refuse(
        `directory ${dir} is open to other users (${describe(stats)})`,
        `Use a path whose directories are owned by root and not writable by other users (chown root ${dir}; chmod go-w ${dir}).`,
      );
  };

  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      current = dirname(current);
      currentStats = lstatSync(current);
      continue;
    }
    const last = pending.length === 0;
    checkDirectory(current, currentStats, last);
    const next = join(current, part);
    let stats: Stats;
    try {
      stats = lstatSync(next);
    } catch (err) {
      if (last && errorCode(err) === 'ENOENT') return next;
      throw refuse(
        `${next} cannot be read (${errorCode(err) ?? String(err)})`,
        `Create ${dirname(next)} as root first.`,
      );
    }
    if (stats.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) throw refuse('has too many symlinks', 'Point it at a real file.');
      if (!owners.has(stats.uid) || !closedToOthers(currentStats))
        throw refuse(
          `symlink ${next} could have been planted by another user (${describe(stats)}, in ${current}: ${describe(currentStats)})`,
          `Remove ${next}, or use a path that does not go through it.`,
        );
      const target = readlinkSync(next);
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      if (isAbsolute(target)) {
        current = '/';
        currentStats = lstatSync(current);
      }
      continue;
    }
    if (last) {
      if (stats.isDirectory())
        throw refuse('is a directory', `Point ${options.what} at a file, not a directory.`);
      const type = options.type ?? 'file';
      if (type === 'file' ? !stats.isFile() : !stats.isSocket())
        throw refuse(
          `is not a ${type === 'file' ? 'regular file' : 'socket'}`,
          `Point ${options.what} at a ${type}.`,
        );
      if (!closedToOthers(stats))
        throw refuse(
          `can be written by other users (${describe(stats)})`,
          `Make it writable by its owner only (chmod go-w ${next}).`,
        );
      if (!owners.has(stats.uid))
        throw refuse(
          `is owned by uid ${stats.uid} (allowed: uid ${[...owners].join(' or ')})`,
          `Make ${next} owned by uid ${[...owners][0] ?? 0} (chown), or use another path.`,
        );
      return next;
    }
    current = next;
    currentStats = stats;
  }
  return resolve(current);
}
