/**
 * The packaged app's layout, built offline: the real electron-builder.yml, electron-builder's `dir`
 * target, and a stub Electron (an "executable" carrying only the fuse wire) instead of the binary
 * that cannot be downloaded here. electron-builder runs in a network namespace of its own (as root),
 * so a download attempt fails the test. Then: the files are where main/electron/desktop-app.ts looks
 * for them, every package the main bundle imports is in the asar, koffi's native module is unpacked,
 * the fuses are flipped, and the bundled helper installs through the app's own flow and the real
 * installer (copied out of an "AppImage" first, as from a FUSE mount).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { build as viteBuild } from 'vite';
import { parse } from 'yaml';
import { buildDesktop, PROJECT_ROOT } from '../../main/electron/build.ts';
import { appPaths } from '../../main/electron/desktop-app.ts';
import { helperLayout } from '../../helper/install/layout.ts';
import { HelperInstaller } from '../../helper/client/helper-installer.ts';
import { HelperFlow } from '../../main/electron/helper-flow.ts';
import { VERSION } from '../../main/engine/version.ts';

const require = createRequire(import.meta.url);
const asar = require('@electron/asar') as {
  listPackage(archive: string, options: { isPack: boolean }): string[];
  extractFile(archive: string, file: string): Buffer;
  statFile(archive: string, file: string): { unpacked?: boolean };
};

const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** @electron/fuses' FuseV1Options order. */
const FUSES = [
  'runAsNode',
  'enableCookieEncryption',
  'enableNodeOptionsEnvironmentVariable',
  'enableNodeCliInspectArguments',
  'enableEmbeddedAsarIntegrityValidation',
  'onlyLoadAppFromAsar',
  'loadBrowserProcessSpecificV8Snapshot',
  'grantFileProtocolExtraPrivileges',
] as const;

/** What electron-builder needs from an unpacked Electron for Linux: the binary (with its fuse wire), licenses, version. */
function stubElectron(dir: string, version: string): void {
  mkdirSync(join(dir, 'resources'), { recursive: true });
  const wire = Buffer.concat([
    Buffer.from('#!/bin/sh\necho "stub electron: cannot run here" >&2; exit 1\n'),
    Buffer.from(SENTINEL),
    Buffer.from([1, FUSES.length]),
    Buffer.from('10110001'), // Electron's defaults, with grantFileProtocolExtraPrivileges on
  ]);
  writeFileSync(join(dir, 'electron'), wire, { mode: 0o755 });
  writeFileSync(join(dir, 'LICENSE'), 'stub\n');
  writeFileSync(join(dir, 'LICENSES.chromium.html'), 'stub\n');
  writeFileSync(join(dir, 'version'), version);
}

function fuseWire(binary: string): Record<string, boolean> {
  const data = readFileSync(binary);
  const at = data.indexOf(SENTINEL);
  assert.ok(at >= 0, 'fuse sentinel in the packaged binary');
  const start = at + SENTINEL.length + 2;
  return Object.fromEntries(FUSES.map((name, i) => [name, data[start + i] === 0x31]));
}

/** The renderer as its own Vite config builds it, into a temp dir (renderer/dist may be rebuilt by other tests). */
async function buildRenderer(outDir: string): Promise<void> {
  const config = join(PROJECT_ROOT, 'renderer', 'vite.config.ts');
  if (!existsSync(config)) {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'index.html'), '<!doctype html><title>ngrokd</title>\n');
    return;
  }
  await viteBuild({ configFile: config, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
}

function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const [file, ...args] = argv as [string, ...string[]];
    execFile(file, args, { env, cwd: PROJECT_ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({
        code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1,
        output: `${stdout}${stderr}`,
      }),
    );
  });
}

// electron-builder, two Vite builds and a helper install: minutes on a loaded 2-core machine.
const PACKAGING_TIMEOUT_MS = 15 * 60_000;

test(
  'electron-builder lays out the app, the helper and koffi where the app expects them',
  { timeout: PACKAGING_TIMEOUT_MS },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ngrokd-packaging-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const electronVersion = (require('electron/package.json') as { version: string }).version;

    await Promise.all([buildDesktop(), buildRenderer(join(dir, 'renderer-dist'))]);
    stubElectron(join(dir, 'electron'), electronVersion);

    const yml = parse(readFileSync(join(PROJECT_ROOT, 'electron-builder.yml'), 'utf8')) as {
      files: Array<string | object>;
      directories: Record<string, string>;
    };
    assert.ok(yml.files.includes('renderer/dist/**'), 'the config packs the renderer build');
    const config = {
      ...yml,
      files: yml.files.map((f) =>
        f === 'renderer/dist/**'
          ? { from: join(dir, 'renderer-dist'), to: 'renderer/dist', filter: ['**/*'] }
          : f,
      ),
      electronDist: join(dir, 'electron'),
      directories: { ...yml.directories, output: join(dir, 'dist') },
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));

    const offline = process.getuid?.() === 0 ? ['unshare', '-n'] : [];
    const builder = [
      join(PROJECT_ROOT, 'node_modules', '.bin', 'node'),
      join(PROJECT_ROOT, 'node_modules', 'electron-builder', 'cli.js'),
      '--linux',
      'dir',
      '--config',
      join(dir, 'config.json'),
    ];
    const { code, output } = await run([...offline, ...builder], {
      ...process.env,
      ELECTRON_BUILDER_CACHE: join(dir, 'cache'),
      CSC_IDENTITY_AUTO_DISCOVERY: 'false',
    });
    assert.equal(code, 0, `electron-builder failed:\n${output}`);

    const unpacked = join(dir, 'dist', 'linux-unpacked');
    const resources = join(unpacked, 'resources');
    const archive = join(resources, 'app.asar');
    const files = new Set(asar.listPackage(archive, { isPack: false }).map((p) => p.replace(/^\//, '')));

    // The executable, with the fuses flipped as configured.
    const executable = join(unpacked, 'ngrokd');
    assert.ok((statSync(executable).mode & 0o111) !== 0, 'ngrokd is executable');
    assert.deepEqual(fuseWire(executable), {
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      loadBrowserProcessSpecificV8Snapshot: false,
      grantFileProtocolExtraPrivileges: false,
    });

    // Where desktop-app.ts looks, inside the asar (app path) and next to it (resources).
    const pkg = JSON.parse(asar.extractFile(archive, 'package.json').toString('utf8')) as {
      main: string;
      type: string;
    };
    assert.equal(pkg.main, 'out/main/main.js');
    assert.equal(pkg.type, 'module', 'main.js is loaded as ESM');
    const paths = appPaths('/app', resources, true);
    const inAsar = (path: string): string => relative('/app', path);
    for (const file of [
      pkg.main,
      inAsar(paths.preload),
      join(inAsar(paths.renderer), 'index.html'),
      inAsar(paths.windowIcon),
      join(inAsar(paths.trayIcons), 'trayTemplate.png'),
      join(inAsar(paths.trayIcons), 'trayTemplate@2x.png'),
      join(inAsar(paths.trayIcons), 'tray-on.png'),
    ]) {
      assert.ok(files.has(file), `${file} is in app.asar`);
    }
    const stray = [...files].filter(
      (f) => /^(test|main|helper|renderer\/src)\//.test(f) || /^out\/.*\.map$/.test(f),
    );
    assert.deepEqual(stray, [], 'no sources, tests or source maps of our own in the app');
    const preload = asar.extractFile(archive, inAsar(paths.preload)).toString('utf8');
    assert.deepEqual(
      [...preload.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]),
      ['electron'],
    );

    // Every package the main bundle imports is packed.
    const bundle = asar.extractFile(archive, pkg.main).toString('utf8');
    const imported = new Set(
      [...bundle.matchAll(/^import\s+(?:[^'"]*?\s+from\s+)?"([^"]+)"/gm)]
        .map((m) => m[1] ?? '')
        .filter((s) => !s.startsWith('node:') && !s.startsWith('.') && s !== 'electron')
        .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] ?? ''))),
    );
    assert.ok(
      imported.has('koffi') && imported.has('electron-store'),
      `imports: ${[...imported].join(', ')}`,
    );
    for (const name of imported)
      assert.ok(files.has(`node_modules/${name}/package.json`), `${name} is packed`);

    // koffi's native module is outside the archive, where a process can dlopen it.
    const native = join('node_modules', '@koromix', `koffi-${process.platform}-${process.arch}`);
    assert.equal(asar.statFile(archive, join(native, 'package.json')).unpacked, true);
    assert.ok(
      existsSync(
        join(resources, 'app.asar.unpacked', native, `${process.platform}_${process.arch}`, 'koffi.node'),
      ),
      'koffi.node under app.asar.unpacked',
    );
    assert.ok(existsSync(join(resources, 'app.asar.unpacked', 'node_modules', 'koffi', 'package.json')));
    // The password prompt's child, which runs under the helper's Node and cannot read app.asar.
    assert.ok(
      existsSync(join(resources, 'app.asar.unpacked', 'out', 'main', 'sudo-prompt-child.mjs')),
      'sudo-prompt-child.mjs under app.asar.unpacked',
    );

    // The helper: resources/helper, complete enough for the installer to install it.
    assert.equal(paths.helper, join(resources, 'helper'));
    for (const file of ['helper/main.ts', 'helper/install/cli.ts', 'main/common/errors.ts', 'package.json']) {
      assert.ok(existsSync(join(paths.helper, file)), `resources/helper/${file}`);
    }
    const node = join(paths.helper, 'bin', 'node');
    assert.ok((statSync(node).mode & 0o111) !== 0, 'the helper runtime is executable');
    assert.ok(existsSync(join(paths.helper, 'node_modules', 'koffi', 'package.json')));
    // Installed the way the app does it: HelperFlow copies it out of the "AppImage" mount, and
    // HelperInstaller runs the one elevated command (here a plain shell, under a temp root).
    const root = join(dir, 'root');
    mkdirSync(root);
    const elevated: string[] = [];
    const flow = new HelperFlow({
      currentVersion: VERSION,
      bundledSource: paths.helper,
      createInstaller: (o) =>
        new HelperInstaller({
          ...o,
          root,
          platform: 'linux',
          uid: 1000,
          elevate: async (command) => {
            elevated.push(command);
            return (await run(['/bin/sh', '-c', command], process.env)).output;
          },
        }),
      confirm: async () => true,
      report: (error) => assert.fail(`${error.message} (${error.fix})`),
      restartEngine: async () => undefined,
      env: { APPIMAGE: join(dir, 'ngrokd.AppImage') },
    });
    assert.equal(await flow.install('first-run'), true);
    assert.equal(elevated.length, 1, 'one elevated command, so one password prompt');
    assert.equal(elevated[0]?.includes(resources), false, 'nothing runs from the AppImage mount');
    const layout = helperLayout('linux');
    const manifest = JSON.parse(readFileSync(join(root, layout.manifestPath), 'utf8')) as { version: string };
    assert.equal(manifest.version, VERSION);
    const installed = join(root, layout.baseDir, VERSION);
    for (const file of ['bin/node', 'app/helper/main.ts', 'app/node_modules/koffi/package.json']) {
      assert.ok(existsSync(join(installed, file)), `installed ${file}`);
    }
    assert.ok(existsSync(join(root, layout.serviceFile)));
  },
);
