/**
 * Replace a file so that readers see either the old or the new content, never a torn one, even
 * after a crash or power loss: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory. Used for /etc/hosts (by the root helper) and the engine's state files.
 */
import { randomBytes } from 'node:crypto';
import { errorCode } from '../common/errors.ts';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The file system calls used; tests inject failures through this. */
export type AtomicWriteFs = Pick<typeof fsp, 'open' | 'rename' | 'unlink' | 'stat' | 'realpath'>;

export interface AtomicWriteOptions {
  /** Mode of a new file (an existing file keeps its own mode and owner). Default 0o600. */
  mode?: number;
  fs?: AtomicWriteFs;
}

/** The file a path designates: a symlink is followed so the link itself stays in place. */
async function resolveTarget(fs: AtomicWriteFs, path: string): Promise<string> {
  try {
    return await fs.realpath(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return path;
    throw err;
  }
}

async function statIfExists(fs: AtomicWriteFs, path: string) {
  try {
    return await fs.stat(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Atomically replace `path` with `data` (a string is written as UTF-8). On failure the old file is
 * untouched, the temp file is removed, and the fs error is rethrown.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const fs = options.fs ?? fsp;
  const target = await resolveTarget(fs, path);
  const existing = await statIfExists(fs, target);
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    try {
      // Set the mode explicitly: the mode given to open() is filtered by the umask.
      await handle.chmod(existing === null ? (options.mode ?? 0o600) : existing.mode & 0o7777);
      if (existing !== null) await keepOwner(handle, existing.uid, existing.gid);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, target);
    renamed = true;
  } finally {
    if (!renamed) await fs.unlink(temp).catch(() => undefined);
  }
  await syncDirectory(fs, dir);
}

async function keepOwner(handle: fsp.FileHandle, uid: number, gid: number): Promise<void> {
  try {
    await handle.chown(uid, gid);
  } catch (err) {
    // Only root may give a file away; a non-root writer of a file it can replace ends up owning it.
    if (errorCode(err) !== 'EPERM' || process.getuid?.() === 0) throw err;
  }
}

/** Make the rename durable. Best effort: some platforms cannot open or fsync a directory. */
async function syncDirectory(fs: AtomicWriteFs, dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The data is already in place; only durability across a power cut is at stake.
  }
}
