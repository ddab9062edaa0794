/**
 * The renderer that `--ui` serves, built with Vite when renderer/dist is missing or older than its
 * sources, so browser mode always serves what the sources say.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NgrokdError } from '../../common/errors.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const RENDERER_DIST = join(REPO_ROOT, 'renderer', 'dist');

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Whether renderer/dist is missing or older than anything it is built from. */
export function rendererIsStale(root = REPO_ROOT): boolean {
  const built = join(root, 'renderer', 'dist', 'index.html');
  if (!existsSync(built)) return true;
  const sources = ['renderer/src', 'renderer/public', 'renderer/index.html', 'renderer/vite.config.ts']
    .map((p) => join(root, p))
    .filter((p) => existsSync(p));
  return Math.max(...sources.map(newestMtime)) > statSync(built).mtimeMs;
}

/**
 * Build the renderer with Vite when renderer/dist is missing or stale (a checkout without
 * `npm ci`, or edited sources), so `--ui` always serves what the sources say. Returns the dist dir.
 */
export async function ensureRendererBuilt(
  report: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  root = REPO_ROOT,
): Promise<string> {
  const dist = join(root, 'renderer', 'dist');
  if (!rendererIsStale(root)) return dist;
  const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  if (!existsSync(vite))
    throw new NgrokdError(
      'CONFIG_INVALID',
      `the UI is not built (${dist} is missing or stale) and Vite is not installed at ${vite}`,
      'Run `npm ci` (with dev dependencies), then `npm run build:renderer`.',
    );
  report(
    'ngrokd: building the UI (renderer/dist is missing or older than renderer/src); this takes a few seconds…',
  );
  const output: Buffer[] = [];
  const code = await new Promise<number | null>((done, reject) => {
    const child = spawn(
      process.execPath,
      [vite, 'build', '--config', join(root, 'renderer', 'vite.config.ts'), '--logLevel', 'warn'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.once('error', reject);
    child.once('exit', done);
  });
  if (code !== 0 || !existsSync(join(dist, 'index.html')))
    throw new NgrokdError(
      'CONFIG_INVALID',
      `building the UI failed (vite exited with ${code}): ${Buffer.concat(output).toString('utf8').trim().slice(-2000)}`,
      'Fix the error above, or run `npm run build:renderer` to see the full output.',
    );
  return dist;
}
