/** The engine's state, derived in one place, and what the CLI, the tray and the UI make of it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { engineState, withOutsideProblems } from '../../../main/engine/status-view.ts';
import { formatStatus } from '../../../main/cli/format.ts';
import { trayIconState } from '../../../main/electron/tray-menu.ts';
import { endpoint, PLAN_GATE, snapshot } from '../electron/electron-fixtures.ts';

const NO_KEY: UserFacingError = { code: 'API_KEY_MISSING', message: 'no key', fix: 'set one' };
const REJECTED: UserFacingError = { code: 'API_AUTH', message: 'rejected', fix: 'a new key' };
const STORAGE: UserFacingError = { code: 'SECRET_STORAGE', message: 'basic_text', fix: 'a keyring' };

test('needs_key, off, degraded, starting and running follow from what the engine knows', () => {
  const base = { enabled: true, registered: true, errors: [], endpointsDown: 0 };
  assert.equal(engineState(base), 'running');
  assert.equal(engineState({ ...base, registered: false }), 'starting');
  assert.equal(engineState({ ...base, errors: [PLAN_GATE] }), 'degraded');
  assert.equal(engineState({ ...base, endpointsDown: 1 }), 'degraded', 'an endpoint not listening');
  assert.equal(engineState({ ...base, enabled: false, errors: [PLAN_GATE] }), 'off');
  for (const key of [NO_KEY, REJECTED]) {
    assert.equal(engineState({ ...base, registered: false, errors: [key] }), 'needs_key', key.code);
    assert.equal(engineState({ ...base, registered: false, enabled: false, errors: [key] }), 'needs_key');
  }
  assert.equal(
    engineState({ ...base, errors: [REJECTED] }),
    'degraded',
    'a registered engine keeps working on its certificate',
  );
});

test("the shell's problems make the state worse, never better", () => {
  const running = snapshot([endpoint('web.prod')]).status;
  assert.equal(running.state, 'running');
  assert.equal(withOutsideProblems(running, []), running);
  const degraded = withOutsideProblems(running, [STORAGE]);
  assert.equal(degraded.state, 'degraded');
  assert.deepEqual(degraded.errors, [STORAGE]);
  assert.equal(degraded.last_error, STORAGE);
  const down = snapshot([endpoint('web.prod', { listening: false })]).status;
  assert.equal(down.state, 'degraded');
  assert.equal(withOutsideProblems(down, [STORAGE]).state, 'degraded');
  const off = snapshot([], { enabled: false }).status;
  assert.equal(withOutsideProblems(off, [STORAGE]).state, 'off');
  const noKey = snapshot([], { registered: false, errors: [NO_KEY] }).status;
  assert.equal(withOutsideProblems(noKey, [STORAGE]).state, 'needs_key');
});

test('the CLI and the tray show the one state', () => {
  const cases = [
    [snapshot([]), 'on', 'on'],
    [snapshot([], { enabled: false }), 'off', 'off'],
    [snapshot([], { errors: [PLAN_GATE] }), 'on, needs attention', 'attention'],
    [snapshot([endpoint('web.prod', { listening: false })]), 'on, needs attention', 'attention'],
    [snapshot([], { registered: false }), 'on, registering', 'on'],
    [snapshot([], { registered: false, errors: [NO_KEY] }), 'not set up', 'attention'],
  ] as const;
  for (const [state, cli, icon] of cases) {
    assert.match(formatStatus(state.status).split('\n')[0] ?? '', new RegExp(`: ${cli}`), state.status.state);
    assert.equal(trayIconState(state), icon, state.status.state);
  }
});
