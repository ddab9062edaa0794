import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Conf from 'conf';
import type { CommandHandlers, Settings } from '../../../main/common/contract.ts';
import { commands } from '../../../main/common/contract.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { desktopHandlers, desktopSnapshot } from '../../../main/electron/desktop-handlers.ts';
import { AUTOSTART_FILE, autostartDir, setLinuxAutostart } from '../../../main/electron/login-item.ts';
import { ApiKeyVault, type SafeStorageLike } from '../../../main/electron/secrets.ts';
import {
  DesktopSettings,
  prefsStoreOptions,
  type DesktopFields,
} from '../../../main/electron/settings-store.ts';
import { engineSettings, snapshot } from './electron-fixtures.ts';

const API_KEY = '2abcDEFghiJKLmnoPQRstu_VWXyz0123456789-key';

type Backend = SafeStorageLike extends { getSelectedStorageBackend(): infer B } ? B : never;

/** safeStorage stand-in: real AES-256-GCM under a key that never touches the disk. */
function fakeSafeStorage(options: { available?: boolean; backend?: Backend } = {}): SafeStorageLike {
  const key = randomBytes(32);
  return {
    isEncryptionAvailable: () => options.available ?? true,
    getSelectedStorageBackend: () => options.backend ?? 'gnome_libsecret',
    encryptString: (plain) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]);
    },
    decryptString: (data) => {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(12, 28));
      return Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-electron-settings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openStore(dir: string): DesktopSettings {
  return new DesktopSettings(new Conf<Record<string, unknown>>(prefsStoreOptions(dir)));
}

const ENGINE_SETTINGS: Settings = engineSettings();

/** Engine handlers as far as settings and keys go, recording what reaches them. */
function fakeEngine(calls: Array<[string, unknown]>): CommandHandlers {
  const state = snapshot([]);
  const record =
    <T>(name: string, result: T) =>
    (params: unknown): T => {
      calls.push([name, params]);
      return result;
    };
  const handlers = Object.fromEntries(
    Object.keys(commands).map((name) => [name, record(name, state.status)]),
  ) as unknown as CommandHandlers;
  let current = { ...ENGINE_SETTINGS };
  return {
    ...handlers,
    getSettings: () => current,
    updateSettings: (patch) => {
      calls.push(['updateSettings', patch]);
      if (patch.poll_interval !== undefined) current = { ...current, poll_interval: patch.poll_interval };
      return current;
    },
    logout: record('logout', { deleted: true }),
  };
}

function desktop(dir: string, safeStorage = fakeSafeStorage()) {
  const calls: Array<[string, unknown]> = [];
  const applied: DesktopFields[] = [];
  const settings = openStore(dir);
  const vault = new ApiKeyVault({ safeStorage, path: join(dir, 'api-key.enc'), platform: 'linux' });
  const problems = (): UserFacingError[] => {
    const p = vault.problem();
    return p === null ? [] : [p];
  };
  const handlers = desktopHandlers(fakeEngine(calls), {
    settings,
    vault,
    problems,
    applyDesktopSettings: (fields) => applied.push(fields),
  });
  return { calls, applied, settings, vault, handlers, problems };
}

function everyFileIn(dir: string): string {
  return readdirSync(dir)
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .join('\n');
}

test('settings are persisted with the desktop fields, in a 0600 file, and survive a restart', async (t) => {
  const dir = tempDir(t);
  const { handlers, calls, applied, settings } = desktop(dir);
  const initial = await handlers.getSettings({});
  assert.equal(initial.desktop, true);
  assert.deepEqual(
    [initial.launch_at_login, initial.notifications, initial.traffic_title],
    [false, true, false],
    'defaults',
  );
  const updated = await handlers.updateSettings({
    launch_at_login: true,
    traffic_title: true,
    poll_interval: 12,
    subnet: '10.99.0.0/16',
  });
  assert.equal(updated.launch_at_login, true);
  assert.equal(updated.traffic_title, true);
  assert.equal(updated.poll_interval, 12);
  assert.deepEqual(calls.at(-1), [
    'updateSettings',
    { launch_at_login: true, traffic_title: true, poll_interval: 12, subnet: '10.99.0.0/16' },
  ]);
  assert.deepEqual(applied, [{ launch_at_login: true, notifications: true, traffic_title: true }]);
  assert.equal(statSync(settings.path).mode & 0o777, 0o600);
  const reopened = openStore(dir);
  assert.deepEqual(reopened.desktopFields(), {
    launch_at_login: true,
    notifications: true,
    traffic_title: true,
  });
  assert.deepEqual(reopened.engineConfig(), {
    bound_endpoints: { poll_interval: 12 },
    net: { subnet: '10.99.0.0/16' },
  });
});

test('a hand-edited invalid store does not stop the app; invalid values are ignored', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'config.json'), '{"notifications": "loud", "poll_interval": -1}');
  const settings = openStore(dir);
  assert.deepEqual(settings.desktopFields(), {
    launch_at_login: false,
    notifications: true,
    traffic_title: false,
  });
  assert.deepEqual(settings.engineConfig(), {});
  settings.update({ notifications: false });
  assert.equal(openStore(dir).desktopFields().notifications, false);
  assert.equal(statSync(settings.path).mode & 0o777, 0o600);
});

test('the API key is stored only as ciphertext, in a 0600 file, and reaches the engine', async (t) => {
  const dir = tempDir(t);
  const { handlers, calls, vault } = desktop(dir);
  await handlers.updateSettings({ notifications: false });
  const status = await handlers.setApiKey({ apiKey: API_KEY });
  assert.deepEqual(calls.at(-1), ['setApiKey', { apiKey: API_KEY }]);
  assert.equal(JSON.stringify(status).includes(API_KEY), false, 'status never carries the key');
  const files = everyFileIn(dir);
  assert.equal(files.includes(API_KEY), false, 'no file holds the key in plain text');
  assert.equal(files.includes(Buffer.from(API_KEY).toString('base64')), false);
  assert.equal(statSync(vault.path).mode & 0o777, 0o600);
  assert.equal(await vault.load(), API_KEY);
  const settings = await handlers.getSettings({});
  assert.equal(JSON.stringify(settings).includes(API_KEY), false, 'settings never carry the key');
  await handlers.logout({});
  assert.equal(await vault.load(), undefined, 'logout forgets the key');
});

test('an existing key file with a loose mode is tightened to 0600 on save', async (t) => {
  const dir = tempDir(t);
  const vault = new ApiKeyVault({ safeStorage: fakeSafeStorage(), path: join(dir, 'api-key.enc') });
  writeFileSync(vault.path, 'old\n', { mode: 0o644 });
  await vault.save(API_KEY);
  assert.equal(statSync(vault.path).mode & 0o777, 0o600);
});

test('without an OS keychain the key is refused, never written in plain text', async (t) => {
  const dir = tempDir(t);
  const { handlers, calls } = desktop(dir, fakeSafeStorage({ available: false }));
  await assert.rejects(
    async () => handlers.setApiKey({ apiKey: API_KEY }),
    (err: Error & { code?: string; fix?: string }) => {
      assert.equal(err.code, 'SECRET_STORAGE');
      assert.match(err.fix ?? '', /NGROK_API_KEY/);
      return true;
    },
  );
  assert.equal(
    calls.some(([name]) => name === 'setApiKey'),
    false,
    'the engine did not get a key that was not saved',
  );
  assert.equal(everyFileIn(dir).includes(API_KEY), false);
  const status = await handlers.status({});
  assert.equal(status.errors.at(-1)?.code, 'SECRET_STORAGE');
});

test('on Linux the basic_text backend is reported in status as a warning', async (t) => {
  const dir = tempDir(t);
  const { handlers, problems } = desktop(dir, fakeSafeStorage({ backend: 'basic_text' }));
  const status = await handlers.status({});
  const warning = status.errors.find((e) => e.code === 'SECRET_STORAGE');
  assert.ok(warning);
  assert.match(warning.message, /basic_text/);
  assert.equal(status.state, 'degraded', 'the state says so too');
  // What the desktop's state feed pushes carries it as well.
  const pushed = desktopSnapshot({ snapshot: () => snapshot([]) }, problems)();
  assert.ok(pushed.status.errors.some((e) => e.code === 'SECRET_STORAGE'));
  assert.equal(pushed.status.state, 'degraded');
  const mac = new ApiKeyVault({
    safeStorage: fakeSafeStorage({ backend: 'basic_text' }),
    path: join(dir, 'k'),
    platform: 'darwin',
  });
  assert.equal(mac.problem(), null, 'the backend question is Linux-only');
});

test('a key that no longer decrypts is reported, not thrown', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'api-key.enc');
  await new ApiKeyVault({ safeStorage: fakeSafeStorage(), path }).save(API_KEY);
  const other = new ApiKeyVault({ safeStorage: fakeSafeStorage(), path, platform: 'darwin' });
  assert.equal(await other.load(), undefined);
  assert.match(other.problem()?.message ?? '', /cannot be decrypted/);
});

test('launch at login on Linux is an XDG autostart entry that quotes the AppImage path', async (t) => {
  const dir = tempDir(t);
  const autostart = autostartDir({ XDG_CONFIG_HOME: dir }, '/home/nobody');
  assert.equal(autostart, join(dir, 'autostart'));
  await setLinuxAutostart(true, '/home/me/Apps/ngrokd "beta" $1.AppImage', autostart);
  const entry = readFileSync(join(autostart, AUTOSTART_FILE), 'utf8');
  assert.match(entry, /^\[Desktop Entry\]\n/);
  assert.match(entry, /\nExec="\/home\/me\/Apps\/ngrokd \\"beta\\" \\\$1\.AppImage"\n/);
  await setLinuxAutostart(false, '/unused', autostart);
  assert.deepEqual(readdirSync(autostart), []);
  await setLinuxAutostart(false, '/unused', autostart); // removing twice is fine
});
