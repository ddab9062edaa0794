/**
 * `npm run build:main`: what Electron needs that it cannot take from our TypeScript sources.
 *  - out/main/main.js: the main process, one ESM bundle; packages stay external (koffi's native
 *    module, pino's worker files and electron-store are loaded from node_modules at run time).
 *  - out/preload/preload.cjs: the sandboxed preload, CommonJS, requiring nothing but `electron`.
 *  - out/helper/: the privileged helper exactly as the installer copies it (helper/, main/common/,
 *    the packages they import, package.json, bin/node), shipped as resources/helper.
 *  - out/cli/: the command-line tool, shipped as resources/cli: `ngrokd` (a launcher script the
 *    /usr/local/bin/ngrokd link points at) and `ngrokd.mjs` (the CLI in one file), run by the
 *    helper's Node; its one native package, koffi, is the helper's copy (../helper/node_modules).
 */
import { chmod, copyFile, link, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { APP_DIR, appPackageJson, RUNTIME_FILE } from '../../helper/install/layout.ts';
import { checkoutSource } from '../../helper/install/source.ts';
import { VERSION } from '../engine/version.ts';
import { CLI_BUNDLE_NAME, LAUNCHER_DIR, LAUNCHER_NAME, LAUNCHER_SCRIPT } from './cli-link.ts';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The pinned Node 22 (the `node` dev dependency) is the helper's runtime. */
export const HELPER_NODE = join(PROJECT_ROOT, 'node_modules', 'node', 'bin', 'node');

function isPackageImport(id: string): boolean {
  return !id.startsWith('.') && !isAbsolute(id) && !id.startsWith('\0');
}

/**
 * Modules that run themselves when they are the entry (the simulator, the helper installer, the
 * root watchdog) check `import.meta.main` or `isEntryPoint(import.meta.url)`. In one bundle every
 * module's URL is the bundle's, so under a Node that runs the bundle as its script they would all
 * think they are the entry (the root watchdog then exits 2): in a bundle none of them is, and the
 * bundle's own entry checks neither.
 */
function notEntryPoints(entry: string) {
  return {
    define: { 'import.meta.main': 'false' },
    plugins: [
      {
        name: 'ngrokd-not-entry-points',
        transform: (code: string, id: string) =>
          id !== entry && code.includes('isEntryPoint(import.meta.url)')
            ? // Same lines, same columns but for the name: the source map stays right.
              { code: code.replaceAll('isEntryPoint(import.meta.url)', 'false'), map: null }
            : null,
      },
    ],
  };
}

export async function buildMain(root: string, outDir: string): Promise<void> {
  const entry = join(root, 'main', 'electron', 'main.ts');
  await build({
    configFile: false,
    root,
    logLevel: 'warn',
    ...notEntryPoints(entry),
    build: {
      ssr: entry,
      outDir: join(outDir, 'main'),
      emptyOutDir: true,
      target: 'node22',
      minify: false,
      sourcemap: true,
      reportCompressedSize: false,
      rolldownOptions: {
        external: isPackageImport,
        output: { format: 'es', entryFileNames: 'main.js' },
      },
    },
  });
}

export async function buildPreload(root: string, outDir: string): Promise<void> {
  await build({
    configFile: false,
    root,
    logLevel: 'warn',
    build: {
      lib: {
        entry: join(root, 'main', 'electron', 'preload.ts'),
        formats: ['cjs'],
        fileName: () => 'preload.cjs',
      },
      outDir: join(outDir, 'preload'),
      emptyOutDir: true,
      target: 'es2022',
      minify: false,
      reportCompressedSize: false,
      rolldownOptions: { external: ['electron'] },
    },
  });
}

/** Hard links where possible: the Node runtime alone is over 100 MB. */
async function place(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

/**
 * Stage the helper with the installer's own file list (checkoutSource), laid out as an app
 * directory the installer accepts as its source: `app/X` → `X`, the runtime → bin/node.
 */
export async function stageHelper(root: string, outDir: string, runtime = HELPER_NODE): Promise<string> {
  const target = join(outDir, 'helper');
  await rm(target, { recursive: true, force: true });
  const source = await checkoutSource({ root, runtime });
  for (const file of source.files) {
    const to = file.to === RUNTIME_FILE ? RUNTIME_FILE : file.to.slice(APP_DIR.length + 1);
    await place(file.from, join(target, to));
  }
  await writeFile(join(target, 'package.json'), appPackageJson(VERSION));
  return target;
}

/** The password prompt's child, self-contained (sudo-prompt inlined): bin/node runs it from app.asar.unpacked. */
export async function buildPromptChild(root: string, outDir: string): Promise<void> {
  await build({
    configFile: false,
    root,
    logLevel: 'warn',
    ssr: { noExternal: ['@vscode/sudo-prompt'] },
    build: {
      ssr: join(root, 'helper', 'client', 'sudo-prompt-child.ts'),
      outDir: join(outDir, 'main'),
      emptyOutDir: false,
      target: 'node22',
      minify: false,
      reportCompressedSize: false,
      rolldownOptions: { output: { format: 'es', entryFileNames: 'sudo-prompt-child.mjs' } },
    },
  });
}

/** Packages the CLI bundle does not inline (native code): loaded from the helper's node_modules. */
const CLI_NATIVE_PACKAGES: Readonly<Record<string, string>> = {
  koffi: `../helper/node_modules/koffi/index.cjs`,
};

/**
 * `entry` and everything it imports in one ESM file `outFile` for Node 22 (what ships: the CLI and
 * daemon), every package inlined but the native ones, whose imports become `native[name]` (default:
 * resolved from node_modules as usual). Its directory is emptied first.
 */
export async function bundleForNode(
  root: string,
  entry: string,
  outFile: string,
  { native = { koffi: 'koffi' } }: { native?: Readonly<Record<string, string>> } = {},
): Promise<void> {
  await build({
    configFile: false,
    root,
    logLevel: 'warn',
    ...notEntryPoints(entry),
    ssr: { noExternal: true, external: Object.keys(native) },
    build: {
      ssr: entry,
      outDir: dirname(outFile),
      emptyOutDir: true,
      target: 'node22',
      minify: false,
      reportCompressedSize: false,
      rolldownOptions: {
        external: (id) => Object.hasOwn(native, id),
        output: {
          format: 'es',
          entryFileNames: basename(outFile),
          codeSplitting: false,
          paths: (id) => native[id] ?? id,
        },
      },
    },
  });
}

/**
 * The CLI in one ESM file (every package inlined but koffi) and its launcher. A plain Node cannot
 * read app.asar, so this lives in resources/cli beside resources/helper, whose Node runs it.
 */
export async function buildCli(root: string, outDir: string): Promise<string> {
  const target = join(outDir, LAUNCHER_DIR);
  await bundleForNode(root, join(root, 'main', 'cli', 'ngrokd.ts'), join(target, CLI_BUNDLE_NAME), {
    native: CLI_NATIVE_PACKAGES,
  });
  const launcher = join(target, LAUNCHER_NAME);
  await writeFile(launcher, LAUNCHER_SCRIPT);
  await chmod(launcher, 0o755);
  return launcher;
}

export async function buildDesktop(root = PROJECT_ROOT, outDir = join(root, 'out')): Promise<void> {
  // After buildMain: it empties out/main.
  await Promise.all([
    buildMain(root, outDir).then(() => buildPromptChild(root, outDir)),
    buildPreload(root, outDir),
    buildCli(root, outDir),
  ]);
  await stageHelper(root, outDir);
}

if (import.meta.main) {
  await buildDesktop();
  process.stdout.write(
    `built out/main/main.js, out/preload/preload.cjs, out/cli/ and out/helper/ (${VERSION})\n`,
  );
}
