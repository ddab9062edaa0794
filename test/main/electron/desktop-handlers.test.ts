/**
 * desktopAction and desktop_info as the desktop app serves them, through the same dispatcher the
 * IPC bridge uses, with the app's parts (helper flow, CLI link, updater, file dialog) replaced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Conf from 'conf';
import {
  commands,
  CONTROL_PROTOCOL_VERSION,
  type CommandHandlers,
  type DesktopActionResult,
  type Settings,
  type SettingsPatch,
  type UpdateState,
} from '../../../main/common/contract.ts';
import { NgrokdError } from '../../../main/common/errors.ts';
import { dispatch } from '../../../main/engine/dispatch.ts';
import { desktopHandlers, type DesktopServices } from '../../../main/electron/desktop-handlers.ts';
import { DesktopSettings, prefsStoreOptions } from '../../../main/electron/settings-store.ts';
import { engineSettings, snapshot } from './electron-fixtures.ts';

const ENGINE_SETTINGS: Settings = engineSettings({ subnet_in_use: '127.107.0.0/16' });

function fakeEngine(patches: SettingsPatch[]): CommandHandlers {
  const status = snapshot([]).status;
  const handlers = Object.fromEntries(
    Object.keys(commands).map((name) => [name, () => status]),
  ) as unknown as CommandHandlers;
  let current = { ...ENGINE_SETTINGS };
  return {
    ...handlers,
    getSettings: () => current,
    updateSettings: (patch) => {
      if (patch.ingress_ca === '/bad.pem') {
        throw new NgrokdError(
          'INGRESS_UNTRUSTED',
          'cannot read CA file "/bad.pem": not PEM',
          'Choose a PEM file.',
        );
      }
      patches.push(patch);
      if (patch.ingress_ca !== undefined) current = { ...current, ingress_ca: patch.ingress_ca };
      return current;
    },
    desktopAction: ({ action }) => {
      throw new NgrokdError(
        'DESKTOP_ONLY',
        `"${action}" is done by the ngrokd desktop app`,
        'Open the desktop app.',
      );
    },
  };
}

function harness(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-desktop-handlers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log: string[] = [];
  const patches: SettingsPatch[] = [];
  const settings = new DesktopSettings(new Conf<Record<string, unknown>>(prefsStoreOptions(dir)));
  let helper = { installed: false, version: null as string | null, current: false };
  let cliInstalled = false;
  let update: UpdateState = {
    enabled: true,
    managed: false,
    status: 'idle',
    version: null,
    message: null,
    checked_at: null,
  };
  let chosen: string | null = '/etc/ssl/corp-ca.pem';
  let answer = true;
  const services: DesktopServices = {
    helper: {
      info: async () => helper,
      install: async () => {
        log.push('helper.install');
        if (answer) helper = { installed: true, version: '0.1.0', current: true };
        return answer;
      },
      uninstall: async () => {
        log.push('helper.uninstall');
        helper = { installed: false, version: null, current: false };
        cliInstalled = false; // the same prompt removes the CLI link
        return true;
      },
    },
    cli: {
      path: '/usr/local/bin/ngrokd',
      installed: async () => cliInstalled,
      install: async () => {
        log.push('cli.install');
        cliInstalled = answer;
        return answer
          ? { done: true, message: 'Installed /usr/local/bin/ngrokd.' }
          : { done: false, message: 'Nothing changed: the password prompt was declined.' };
      },
      uninstall: async () => {
        log.push('cli.uninstall');
        cliInstalled = false;
        return { done: true, message: 'Removed /usr/local/bin/ngrokd.' };
      },
    },
    updates: {
      get state() {
        return update;
      },
      check: async () => {
        log.push('updates.check');
        update = { ...update, status: 'ready', version: '0.2.0', message: 'ngrokd 0.2.0 is ready.' };
        return update;
      },
      restartToUpdate: () => {
        log.push('updates.restart');
        return update.status === 'ready';
      },
      settingsChanged: () => log.push(`updates.settingsChanged:${String(settings.checkUpdates())}`),
    },
    chooseCaFile: async () => {
      log.push('dialog');
      return chosen;
    },
  };
  const handlers = desktopHandlers(fakeEngine(patches), {
    settings,
    vault: { save: async () => undefined, clear: async () => undefined },
    problems: () => [],
    applyDesktopSettings: () => undefined,
    services,
  });
  let id = 0;
  const call = async (method: string, params: unknown): Promise<unknown> => {
    const response = await dispatch(handlers, { v: CONTROL_PROTOCOL_VERSION, id: ++id, method, params });
    if ('error' in response) throw Object.assign(new Error(response.error.message), response.error);
    assert.ok('result' in response);
    return response.result;
  };
  const action = (name: string) => call('desktopAction', { action: name }) as Promise<DesktopActionResult>;
  return {
    log,
    patches,
    settings,
    dir,
    call,
    action,
    choose: (path: string | null) => (chosen = path),
    answer: (value: boolean) => (answer = value),
    setUpdate: (value: UpdateState) => (update = value),
  };
}

test('getSettings carries desktop_info: helper, command-line tool, updates', async (t) => {
  const h = harness(t);
  const settings = (await h.call('getSettings', {})) as Settings;
  assert.equal(settings.desktop, true);
  assert.deepEqual(settings.desktop_info, {
    helper: { installed: false, version: null, current: false },
    cli: { installed: false, path: '/usr/local/bin/ngrokd' },
    updates: {
      enabled: true,
      managed: false,
      status: 'idle',
      version: null,
      message: null,
      checked_at: null,
    },
  });
  assert.equal(settings.subnet_in_use, '127.107.0.0/16', 'the subnet actually in use, from the engine');
});

test('install and uninstall the helper and the CLI: each result has a sentence and the new settings', async (t) => {
  const h = harness(t);
  const helper = await h.action('install-helper');
  assert.equal(helper.done, true);
  assert.match(helper.message, /helper is installed/);
  assert.deepEqual(helper.settings.desktop_info?.helper, {
    installed: true,
    version: '0.1.0',
    current: true,
  });
  const cli = await h.action('install-cli');
  assert.deepEqual([cli.done, cli.message], [true, 'Installed /usr/local/bin/ngrokd.']);
  assert.equal(cli.settings.desktop_info?.cli.installed, true);
  const removed = await h.action('uninstall-helper');
  assert.equal(removed.done, true);
  assert.equal(removed.settings.desktop_info?.cli.installed, false, 'the helper uninstall took the link too');
  assert.equal((await h.action('uninstall-cli')).done, true);
  h.answer(false);
  const declined = await h.action('install-cli');
  assert.deepEqual(
    [declined.done, declined.message],
    [false, 'Nothing changed: the password prompt was declined.'],
  );
  assert.equal((await h.action('install-helper')).done, false);
  assert.deepEqual(h.log, [
    'helper.install',
    'cli.install',
    'helper.uninstall',
    'cli.uninstall',
    'cli.install',
    'helper.install',
  ]);
});

test('choose-ca-file: the file dialog, then the engine loads it, and it is kept for the next start', async (t) => {
  const h = harness(t);
  const chosen = await h.action('choose-ca-file');
  assert.equal(chosen.done, true);
  assert.equal(chosen.settings.ingress_ca, '/etc/ssl/corp-ca.pem');
  assert.deepEqual(h.patches, [{ ingress_ca: '/etc/ssl/corp-ca.pem' }]);
  assert.deepEqual(h.settings.engineConfig(), { ingressCA: '/etc/ssl/corp-ca.pem' });

  h.choose(null);
  const cancelled = await h.action('choose-ca-file');
  assert.deepEqual([cancelled.done, cancelled.message], [false, 'No CA file chosen; nothing changed.']);
  assert.equal(h.patches.length, 1);

  // A file the engine refuses is an error value with its fix, and is not kept.
  h.choose('/bad.pem');
  await assert.rejects(h.action('choose-ca-file'), { code: 'INGRESS_UNTRUSTED', fix: 'Choose a PEM file.' });
  assert.equal(h.settings.ingressCA(), '/etc/ssl/corp-ca.pem');
  assert.deepEqual(h.log, ['dialog', 'dialog', 'dialog']);
});

test('updates: check, restart to update, and check_updates persisted and applied', async (t) => {
  const h = harness(t);
  assert.deepEqual(await h.action('restart-to-update').then((r) => [r.done, r.message]), [
    false,
    'No update is ready to install yet.',
  ]);
  const checked = await h.action('check-for-updates');
  assert.equal(checked.done, true);
  assert.equal(checked.settings.desktop_info?.updates.status, 'ready');
  assert.equal((await h.action('restart-to-update')).done, true);

  assert.equal(h.settings.checkUpdates(), true, 'on by default');
  await h.call('updateSettings', { check_updates: false });
  assert.equal(h.settings.checkUpdates(), false);
  const reopened = new DesktopSettings(new Conf<Record<string, unknown>>(prefsStoreOptions(h.dir)));
  assert.equal(reopened.checkUpdates(), false, 'kept across restarts');
  assert.deepEqual(h.log.slice(-1), ['updates.settingsChanged:false']);
  await h.call('updateSettings', { poll_interval: 10 });
  assert.equal(
    h.log.filter((l) => l.startsWith('updates.settingsChanged')).length,
    1,
    'only when it changed',
  );
});

test('without the desktop services desktopAction is the engine refusal; bad actions never reach a handler', async (t) => {
  const h = harness(t);
  await assert.rejects(h.call('desktopAction', { action: 'format-disk' }), { code: 'PROTOCOL_ERROR' });
  const plain = desktopHandlers(fakeEngine([]), {
    settings: h.settings,
    vault: { save: async () => undefined, clear: async () => undefined },
    problems: () => [],
    applyDesktopSettings: () => undefined,
  });
  await assert.rejects(async () => plain.desktopAction({ action: 'install-cli' }), { code: 'DESKTOP_ONLY' });
  assert.equal((await plain.getSettings({})).desktop_info, undefined);
  assert.deepEqual(h.log, []);
});
