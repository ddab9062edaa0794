import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { UpdateCheckResult } from 'electron-updater';
import type { UpdateState } from '../../../main/common/contract.ts';
import {
  CHECK_INTERVAL_MS,
  FIRST_CHECK_DELAY_MS,
  POLICY_FILE,
  UpdateController,
  updatePolicy,
  type UpdaterPort,
} from '../../../main/electron/updates.ts';

/**
 * electron-updater's autoUpdater replaced at the boundary: an EventEmitter with its properties and
 * methods, emitting the events the real one emits, in the order it emits them.
 */
class FakeAutoUpdater extends EventEmitter {
  autoDownload = false;
  autoInstallOnAppQuit = false;
  checks = 0;
  installs: Array<[boolean | undefined, boolean | undefined]> = [];
  /** What the next check does: emit these events, then resolve (or reject with `fail`). */
  script: Array<[string, unknown?]> = [];
  fail: Error | null = null;

  async checkForUpdates(): Promise<UpdateCheckResult | null> {
    this.checks++;
    await Promise.resolve();
    for (const [event, arg] of this.script) this.emit(event, arg);
    if (this.fail !== null) {
      this.emit('error', this.fail);
      throw this.fail;
    }
    return null;
  }

  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean): void {
    this.installs.push([isSilent, isForceRunAfter]);
  }
}

function harness(options: { managed?: boolean; checksOn?: boolean; installed?: boolean } = {}) {
  const fake = new FakeAutoUpdater();
  const port: UpdaterPort = fake;
  const timers: Array<{ run: () => void; ms: number; cancelled: boolean }> = [];
  const states: UpdateState[] = [];
  let checksOn = options.checksOn ?? true;
  let created = 0;
  const controller = new UpdateController({
    updater: () => {
      created++;
      return options.installed === false ? null : port;
    },
    policy:
      options.managed === true
        ? { managed: true, source: 'NGROKD_DISABLE_UPDATES=1' }
        : { managed: false, source: null },
    checksOn: () => checksOn,
    onChange: (state) => states.push(state),
    schedule: (run, ms) => {
      const timer = { run, ms, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    now: () => new Date('2026-01-02T03:04:05.000Z'),
  });
  const pending = () => timers.filter((t) => !t.cancelled);
  const fire = async (): Promise<void> => {
    const timer = pending().at(-1);
    assert.ok(timer, 'a check is scheduled');
    timer.cancelled = true;
    timer.run();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    fake,
    controller,
    states,
    pending,
    fire,
    created: () => created,
    setChecksOn: (on: boolean) => {
      checksOn = on;
    },
  };
}

const UPDATE = { version: '0.2.0', files: [], path: 'x', sha512: 'y', releaseDate: '2026-01-01' };

test('checks soon after start and then daily; downloads in the background; offers the restart', async () => {
  const h = harness();
  h.controller.start();
  assert.equal(h.fake.autoDownload, true, 'downloads by itself');
  assert.equal(h.fake.autoInstallOnAppQuit, true, 'or installs at the next quit: never forced');
  assert.deepEqual(
    h.pending().map((t) => t.ms),
    [FIRST_CHECK_DELAY_MS],
  );
  assert.equal(h.fake.checks, 0, 'nothing at construction');

  h.fake.script = [['checking-for-update'], ['update-not-available', UPDATE]];
  await h.fire();
  assert.equal(h.fake.checks, 1);
  assert.equal(h.controller.state.status, 'idle');
  assert.equal(h.controller.state.message, 'ngrokd is up to date.');
  assert.equal(h.controller.state.checked_at, '2026-01-02T03:04:05.000Z');
  assert.deepEqual(
    h.pending().map((t) => t.ms),
    [CHECK_INTERVAL_MS],
    'next one a day later',
  );

  h.fake.script = [
    ['checking-for-update'],
    ['update-available', UPDATE],
    ['download-progress', { percent: 42.7, bytesPerSecond: 1, total: 10, transferred: 4, delta: 1 }],
    ['update-downloaded', { ...UPDATE, downloadedFile: '/tmp/x' }],
  ];
  await h.fire();
  assert.deepEqual(
    h.states.map((s) => s.status).filter((s, i, all) => s !== all[i - 1]),
    ['checking', 'idle', 'checking', 'downloading', 'ready'],
  );
  assert.ok(h.states.some((s) => s.message === 'Downloading ngrokd 0.2.0 (42%)…'));
  assert.deepEqual(
    { ...h.controller.state, checked_at: null },
    {
      enabled: true,
      managed: false,
      status: 'ready',
      version: '0.2.0',
      message: 'ngrokd 0.2.0 is ready: restart ngrokd to update.',
      checked_at: null,
    },
  );
  assert.deepEqual(h.fake.installs, [], 'not installed until the user says so');

  // A later failing check never hides the update that is ready.
  h.fake.emit('error', new Error('net::ERR_INTERNET_DISCONNECTED'));
  assert.equal(h.controller.state.status, 'ready');
  assert.equal(h.controller.restartToUpdate(), true);
  assert.deepEqual(h.fake.installs, [[false, true]], 'not silent, and the app starts again');
});

test('a failed check says so in a sentence and is retried the next day', async () => {
  const h = harness();
  h.controller.start();
  h.fake.fail = new Error(
    'HttpError: 404 Not Found\n"method: GET url: https://downloads.ngrokd.dev/desktop/latest-linux.yml"',
  );
  await h.fire();
  assert.equal(h.controller.state.status, 'error');
  assert.match(
    h.controller.state.message ?? '',
    /^Could not check for updates \(HttpError: 404 Not Found\)\. ngrokd tries again/,
  );
  assert.deepEqual(
    h.pending().map((t) => t.ms),
    [CHECK_INTERVAL_MS],
  );
  assert.equal(h.controller.restartToUpdate(), false, 'nothing to install');
  h.fake.fail = null;
  h.fake.script = [['update-not-available', UPDATE]];
  const state = await h.controller.check();
  assert.equal(state.status, 'idle', 'a manual check recovers');
});

test('the user turns checks off (and on again): no clock, no check, the state says why', async () => {
  const h = harness({ checksOn: false });
  h.controller.start();
  assert.deepEqual(h.pending(), []);
  assert.equal(h.controller.state.enabled, false);
  assert.equal(h.controller.state.status, 'disabled');
  assert.equal(h.controller.state.message, 'Automatic update checks are off.');
  h.setChecksOn(true);
  h.controller.settingsChanged();
  assert.equal(h.controller.state.status, 'idle');
  assert.equal(h.pending().length, 1);
  h.setChecksOn(false);
  h.controller.settingsChanged();
  assert.deepEqual(h.pending(), [], 'the scheduled check is cancelled');
  // Check for Updates still works when the user asks.
  h.fake.script = [['update-not-available', UPDATE]];
  assert.equal((await h.controller.check()).message, 'ngrokd is up to date.');
});

test('a policy turns updates off for good: managed, never loaded, never checked', async () => {
  const h = harness({ managed: true });
  h.controller.start();
  h.controller.settingsChanged();
  assert.deepEqual(h.pending(), []);
  assert.equal(h.created(), 0, 'electron-updater is not even loaded');
  assert.deepEqual(await h.controller.check(), h.controller.state);
  assert.equal(h.fake.checks, 0);
  assert.equal(h.controller.state.managed, true);
  assert.equal(h.controller.state.enabled, false);
  assert.equal(
    h.controller.state.message,
    'Updates are turned off by your administrator (NGROKD_DISABLE_UPDATES=1).',
  );
});

test('an app run from a checkout does not update', () => {
  const h = harness({ installed: false });
  h.controller.start();
  assert.deepEqual(h.pending(), []);
  assert.equal(h.controller.state.status, 'disabled');
  assert.match(h.controller.state.message ?? '', /installed app/);
});

test('the policy switches: environment, /etc/ngrokd/policy.json, the macOS managed preference', () => {
  const none = (path: string): string => {
    assert.equal(path, POLICY_FILE);
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  };
  const file = (text: string) => () => text;
  assert.deepEqual(updatePolicy({ env: {}, platform: 'linux', readPolicyFile: none }), {
    managed: false,
    source: null,
  });
  assert.equal(
    updatePolicy({ env: { NGROKD_DISABLE_UPDATES: '1' }, platform: 'linux', readPolicyFile: none }).managed,
    true,
  );
  assert.equal(
    updatePolicy({ env: { NGROKD_DISABLE_UPDATES: '0' }, platform: 'linux', readPolicyFile: none }).managed,
    false,
  );
  assert.deepEqual(
    updatePolicy({ env: {}, platform: 'linux', readPolicyFile: file('{"disable_updates": true}') }),
    { managed: true, source: POLICY_FILE },
  );
  assert.equal(
    updatePolicy({ env: {}, platform: 'linux', readPolicyFile: file('{"disable_updates": false}') }).managed,
    false,
  );
  assert.equal(updatePolicy({ env: {}, platform: 'linux', readPolicyFile: file('{}') }).managed, false);
  // An administrator's file that cannot be understood fails closed.
  assert.deepEqual(updatePolicy({ env: {}, platform: 'linux', readPolicyFile: file('{disable') }), {
    managed: true,
    source: `${POLICY_FILE} (not valid JSON)`,
  });
  const denied = (): string => {
    throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
  };
  assert.equal(updatePolicy({ env: {}, platform: 'linux', readPolicyFile: denied }).managed, true);
  assert.equal(
    updatePolicy({ env: {}, platform: 'darwin', readPolicyFile: none, macManaged: () => true }).managed,
    true,
  );
  assert.equal(
    updatePolicy({ env: {}, platform: 'linux', readPolicyFile: none, macManaged: () => true }).managed,
    false,
  );
});
