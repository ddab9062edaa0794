import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NgrokdError, type UserFacingError } from '../../../main/common/errors.ts';
import type { HelperInstallerOptions } from '../../../helper/client/helper-installer.ts';
import {
  HELPER_RUNTIME,
  HelperFlow,
  type ConfirmRequest,
  type HelperInstallerLike,
} from '../../../main/electron/helper-flow.ts';

function tempDir(t: { after(fn: () => void): void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ngrokd-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A bundled helper directory with the shape of resources/helper. */
function fakeBundle(dir: string): string {
  const bundle = join(dir, 'resources', 'helper');
  mkdirSync(join(bundle, 'bin'), { recursive: true });
  mkdirSync(join(bundle, 'helper'), { recursive: true });
  writeFileSync(join(bundle, HELPER_RUNTIME), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(bundle, 'helper', 'main.ts'), 'export {};\n');
  return bundle;
}

function setup(
  bundledSource: string,
  options: {
    answer?: boolean;
    installer?: (o: HelperInstallerOptions) => HelperInstallerLike;
    env?: NodeJS.ProcessEnv;
  } = {},
) {
  const log: string[] = [];
  const asked: ConfirmRequest[] = [];
  const reported: UserFacingError[] = [];
  const created: HelperInstallerOptions[] = [];
  const flow = new HelperFlow({
    currentVersion: '0.2.0',
    bundledSource,
    createInstaller: (o) => {
      created.push(o);
      return (
        options.installer?.(o) ?? {
          ensure: async () => {
            log.push('ensure');
            return { action: 'install', previous: null, warnings: [] };
          },
          uninstall: async () => {
            log.push('uninstall');
          },
        }
      );
    },
    confirm: async (request) => {
      asked.push(request);
      return options.answer ?? true;
    },
    report: (error) => reported.push(error),
    restartEngine: async (during) => {
      log.push('stop');
      await during?.();
      log.push('start');
    },
    env: options.env ?? {},
  });
  return { flow, log, asked, reported, created };
}

test('the first question says in one sentence why admin rights are needed', async (t) => {
  const { flow, asked, log } = setup(fakeBundle(tempDir(t, 'flow')), { answer: false });
  assert.equal(await flow.install('first-run'), false);
  assert.equal(asked.length, 1);
  assert.match(asked[0]?.detail ?? '', /administrator rights once/);
  assert.match(asked[0]?.detail ?? '', /user mode/, 'says what is missing without it');
  assert.deepEqual(log, [], 'declining here asks for no password and changes nothing');
});

test('install: one prompt through the installer, then the engine restarts in helper mode', async (t) => {
  const bundle = fakeBundle(tempDir(t, 'flow'));
  const { flow, log, created } = setup(bundle);
  assert.equal(await flow.install('missing'), true);
  assert.deepEqual(log, ['ensure', 'stop', 'start']);
  assert.deepEqual(created, [
    {
      currentVersion: '0.2.0',
      sourceRoot: bundle,
      runtime: join(bundle, HELPER_RUNTIME),
      installerNode: join(bundle, HELPER_RUNTIME),
    },
  ]);
});

test('a declined OS prompt leaves the app in user mode without an error dialog', async (t) => {
  const { flow, log, reported } = setup(fakeBundle(tempDir(t, 'flow')), {
    installer: () => ({
      ensure: async () => {
        throw new NgrokdError(
          'HELPER_MISSING',
          'the administrator prompt was declined; running in user mode',
          'x',
        );
      },
      uninstall: async () => undefined,
    }),
  });
  assert.equal(await flow.install('first-run'), false);
  assert.deepEqual(reported, []);
  assert.deepEqual(log, [], 'no restart');
});

test('an installer failure is reported with its fix', async (t) => {
  const { flow, reported } = setup(fakeBundle(tempDir(t, 'flow')), {
    installer: () => ({
      ensure: async () => {
        throw new NgrokdError('HELPER_ERROR', 'systemctl failed', 'Run `journalctl -u ngrokd-helper`.');
      },
      uninstall: async () => undefined,
    }),
  });
  assert.equal(await flow.install('missing'), false);
  assert.equal(reported[0]?.message, 'systemctl failed');
  assert.match(reported[0]?.fix ?? '', /journalctl/);
});

test('upgrade names both versions; a second click while a dialog is open does nothing', async (t) => {
  let release: (value: boolean) => void = () => undefined;
  const asked: ConfirmRequest[] = [];
  const flow = new HelperFlow({
    currentVersion: '0.2.0',
    bundledSource: fakeBundle(tempDir(t, 'flow')),
    createInstaller: () => assert.fail('not confirmed'),
    confirm: (request) => {
      asked.push(request);
      return new Promise((resolve) => (release = resolve));
    },
    report: () => undefined,
    restartEngine: async () => undefined,
    env: {},
  });
  const first = flow.install('upgrade', '0.1.0');
  assert.equal(await flow.install('missing'), false);
  release(false);
  assert.equal(await first, false);
  assert.equal(asked.length, 1);
  assert.match(asked[0]?.message ?? '', /from 0\.1\.0 to 0\.2\.0/);
});

test('uninstall stops the engine, removes the helper, and starts again in user mode', async (t) => {
  const { flow, log } = setup(fakeBundle(tempDir(t, 'flow')));
  assert.equal(await flow.uninstall(), true);
  assert.deepEqual(log, ['stop', 'uninstall', 'start']);
});

test('from an AppImage the helper is copied out of the mount first and the copy removed after', async (t) => {
  const bundle = fakeBundle(tempDir(t, 'flow'));
  let seen: { sourceRoot: string; executable: boolean; main: string } | null = null;
  const { flow } = setup(bundle, {
    env: { APPIMAGE: '/home/me/ngrokd.AppImage' },
    installer: (o) => ({
      ensure: async () => {
        const sourceRoot = o.sourceRoot ?? '';
        seen = {
          sourceRoot,
          executable: (statSync(join(sourceRoot, HELPER_RUNTIME)).mode & 0o111) !== 0,
          main: readFileSync(join(sourceRoot, 'helper', 'main.ts'), 'utf8'),
        };
        assert.equal(o.runtime, join(sourceRoot, HELPER_RUNTIME));
        return { action: 'install', previous: null, warnings: [] };
      },
      uninstall: async () => undefined,
    }),
  });
  assert.equal(await flow.install('first-run'), true);
  const copy = seen as { sourceRoot: string; executable: boolean; main: string } | null;
  assert.ok(copy);
  assert.notEqual(copy.sourceRoot, bundle);
  assert.equal(copy.executable, true);
  assert.equal(copy.main, 'export {};\n');
  assert.equal(existsSync(copy.sourceRoot), false, 'the temporary copy is gone');
});

test('from an AppImage the copy comes with a manifest of the bundle, and the prompt runs the bundle runtime', async (t) => {
  const bundle = fakeBundle(tempDir(t, 'flow'));
  let checked: { sums: string; manifestOk: boolean; promptNode: unknown; manifest: string } | null = null;
  const { flow } = setup(bundle, {
    env: { APPIMAGE: '/home/me/ngrokd.AppImage' },
    installer: (o) => ({
      ensure: async () => {
        const stage = o.stage;
        assert.ok(stage, 'the installer is told to stage the copy');
        const text = readFileSync(stage.manifest, 'utf8');
        const sums = spawnSync('sha256sum', ['-c', '--strict', stage.manifest], {
          cwd: o.sourceRoot,
          encoding: 'utf8',
        });
        checked = {
          sums: sums.stdout,
          manifestOk: createHash('sha256').update(text).digest('hex') === stage.manifestSha256,
          promptNode: o.promptNode,
          manifest: stage.manifest,
        };
        assert.equal(statSync(stage.manifest).mode & 0o077, 0);
        assert.ok(
          !stage.manifest.startsWith(`${o.sourceRoot ?? ''}/`),
          'the manifest is not part of the tree',
        );
        return { action: 'install', previous: null, warnings: [] };
      },
      uninstall: async () => undefined,
    }),
  });
  assert.equal(await flow.install('first-run'), true);
  const seen = checked as { sums: string; manifestOk: boolean; promptNode: unknown; manifest: string } | null;
  assert.ok(seen);
  assert.equal(seen.sums, 'bin/node: OK\nhelper/main.ts: OK\n');
  assert.equal(seen.manifestOk, true);
  assert.equal(seen.promptNode, join(bundle, HELPER_RUNTIME), 'not the copy anyone could swap');
  assert.equal(existsSync(seen.manifest), false, 'the manifest goes with the copy');
});

test('a bundle holding anything but files and directories is refused before any prompt', async (t) => {
  const bundle = fakeBundle(tempDir(t, 'flow'));
  spawnSync('mkfifo', [join(bundle, 'helper', 'pipe')]);
  const { flow, created } = setup(bundle, { env: { APPIMAGE: '/home/me/ngrokd.AppImage' } });
  await assert.rejects(flow.install('first-run'), {
    code: 'HELPER_ERROR',
    message: /helper file ".*\/helper\/pipe" is not a regular file or directory/,
  });
  assert.deepEqual(created, []);
});

test('after an app update the older helper is upgraded through the handshake: one question, one prompt', async (t) => {
  const { flow, log, asked, created } = setup(fakeBundle(tempDir(t, 'flow')));
  // The helper answers the hello with the version it runs; the app is 0.2.0 now.
  assert.equal(await flow.upgradeIfStale(async () => '0.1.0'), 'upgraded');
  assert.equal(asked.length, 1);
  assert.match(asked[0]?.message ?? '', /^Update the ngrokd helper from 0\.1\.0 to 0\.2\.0\?$/);
  assert.match(asked[0]?.detail ?? '', /password is asked once/);
  assert.equal(created.length, 1, 'one installer, so one elevated command');
  assert.deepEqual(log, ['ensure', 'stop', 'start'], 'then the engine restarts on the new helper');

  const again = setup(fakeBundle(tempDir(t, 'flow')));
  assert.equal(await again.flow.upgradeIfStale(async () => '0.2.0'), 'current');
  assert.equal(
    await again.flow.upgradeIfStale(async () => null),
    'none',
    'no helper: the first-run offer decides',
  );
  assert.equal(await again.flow.upgradeIfStale(() => Promise.reject(new Error('ECONNREFUSED'))), 'none');
  assert.deepEqual([again.asked, again.log], [[], []]);

  const declined = setup(fakeBundle(tempDir(t, 'flow')), { answer: false });
  assert.equal(await declined.flow.upgradeIfStale(async () => '0.1.0'), 'declined');
  assert.deepEqual(declined.log, []);
});

test('the uninstall prelude (the CLI link removal) goes to the installer, in the same prompt', async (t) => {
  const bundle = fakeBundle(tempDir(t, 'flow'));
  const created: HelperInstallerOptions[] = [];
  const flow = new HelperFlow({
    currentVersion: '0.2.0',
    bundledSource: bundle,
    createInstaller: (o) => {
      created.push(o);
      return {
        ensure: async () => ({ action: 'none', previous: '0.2.0', warnings: [] }),
        uninstall: async () => undefined,
      };
    },
    confirm: async () => true,
    report: () => undefined,
    restartEngine: async (during) => during?.(),
    env: {},
    uninstallPrelude: "'/bin/sh' '-c' 'exit 0' >/dev/null 2>&1",
  });
  assert.equal(await flow.uninstall(), true);
  assert.equal(created[0]?.uninstallPrelude, "'/bin/sh' '-c' 'exit 0' >/dev/null 2>&1");
});
