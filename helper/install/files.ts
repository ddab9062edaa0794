/**
 * Paths and files under an install root ('/' for real, a temp dir in tests): resolving, walking,
 * hashing, who owns them, and working on many at once. Every path the installer handles is absolute
 * on the real system and is resolved under the root here, refusing anything that could escape it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { errorCode, NgrokdError } from '../../main/common/errors.ts';

export function installError(message: string, fix: string, cause?: unknown): NgrokdError {
  return new NgrokdError('HELPER_ERROR', message, fix, cause === undefined ? undefined : { cause });
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
export function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

export function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** Streamed: reading a 100 MB runtime into one buffer is several times slower. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every file below `dir` (absolute real-system paths), or none when it does not exist. */
export async function walk(root: string, dir: string): Promise<{ files: string[]; dirs: string[] }> {
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

/** Owner of everything installed: root, or the current user for a test root when not root. */
export function installOwner(root: string): number | null {
  const euid = process.geteuid?.() ?? 0;
  return euid === 0 || root === '/' ? 0 : null;
}

/** Files hashed or copied at once. */
export const COPY_CONCURRENCY = 16;

/** Run `fn` over `items`, at most `limit` at a time; the first failure (after all settle), or null. */
export async function inParallel<T>(
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
