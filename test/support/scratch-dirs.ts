import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/**
 * A temp directory for one test file, removed after it. Returns a maker of fresh, empty
 * subdirectories (`name-N`), so each test works in a tree of its own.
 */
export async function scratchDirs(prefix: string): Promise<(name: string) => Promise<string>> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  after(() => rm(work, { recursive: true, force: true }));
  let counter = 0;
  return async (name) => {
    const dir = join(work, `${name}-${++counter}`);
    await mkdir(dir);
    return dir;
  };
}
