/**
 * Rewriting a file that cannot be replaced by rename: a hosts file bind-mounted into a container
 * (rename over a mount point fails with EBUSY or EXDEV) or a writable file in a read-only directory
 * (the temp file cannot be created: EROFS, EACCES). Such a file has to be overwritten in place, and
 * an in-place write can be torn by a crash. So before the first byte is written, a journal holding
 * the previous content and the hash of the new content is made durable in a directory of our own;
 * it is removed once the new content is on disk. recoverInPlaceWrite(), run before the next write,
 * finds a journal left by a crash and puts the old content back unless the new one had landed
 * whole: the file ends up old or new, never a mix, and no line of the user's is ever lost.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errorCode } from '../common/errors.ts';
import { writeFileAtomic } from './atomic-write.ts';

/** rename() and temp-file errors that mean "this file must be rewritten in place". */
const IN_PLACE_CODES = new Set(['EBUSY', 'EXDEV', 'EROFS', 'EACCES', 'EPERM']);

export function needsInPlaceWrite(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && IN_PLACE_CODES.has(code);
}

const journalSchema = z
  .object({
    v: z.literal(1),
    path: z.string(),
    old: z.string(),
    newSha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** The journal file for `path` inside `journalDir`. */
export function journalPathFor(journalDir: string, path: string): string {
  return join(journalDir, `in-place-${sha256(Buffer.from(path)).slice(0, 16)}.json`);
}

/** Overwrite `path` with `data` in place, journaled in `journalDir` (created 0700 if missing). */
export async function writeInPlace(path: string, data: Uint8Array, journalDir: string): Promise<void> {
  const old = await readFile(path);
  await mkdir(journalDir, { recursive: true, mode: 0o700 });
  const journal = journalPathFor(journalDir, path);
  await writeFileAtomic(
    journal,
    JSON.stringify({ v: 1, path, old: old.toString('base64'), newSha256: sha256(data) }),
  );
  await overwrite(path, data);
  await unlink(journal);
}

/**
 * Finish what a crash interrupted: with a journal for `path`, the file keeps the new content if it
 * landed whole and gets the old content back otherwise. Returns what was done.
 */
export async function recoverInPlaceWrite(
  path: string,
  journalDir: string,
): Promise<'nothing' | 'completed' | 'restored'> {
  const journalPath = journalPathFor(journalDir, path);
  let text: string;
  try {
    text = await readFile(journalPath, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return 'nothing';
    throw err;
  }
  const parsed = journalSchema.safeParse(JSON.parse(text) as unknown);
  // A journal that is not whole was never followed by a write: the file was not touched.
  if (!parsed.success || parsed.data.path !== path) {
    await unlink(journalPath);
    return 'nothing';
  }
  const current = await readFile(path);
  const old = Buffer.from(parsed.data.old, 'base64');
  let outcome: 'nothing' | 'completed' | 'restored' = 'nothing';
  if (sha256(current) === parsed.data.newSha256) outcome = 'completed';
  else if (!current.equals(old)) {
    await overwrite(path, old);
    outcome = 'restored';
  }
  await unlink(journalPath);
  return outcome;
}

/** Write `data` over the file's own inode (owner, mode and mount stay), truncate, fsync. */
async function overwrite(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(data, 0, data.length, 0);
    await handle.truncate(data.length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
