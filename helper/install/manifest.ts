/**
 * The manifest an install writes last: version, uid, and every file with its sha256 and mode. It
 * records what was installed, so status can check it and uninstall can remove exactly that. A
 * manifest that names paths outside the helper's own is not trusted: uninstall would delete them.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { errorCode } from '../../main/common/errors.ts';
import { ancestors, isUnder, resolveUnder } from './files.ts';
import type { HelperLayout } from './layout.ts';

export const MANIFEST_FORMAT = 1;

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
