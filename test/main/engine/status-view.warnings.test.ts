/** Warnings in the status view and on every surface that shows it: `status`, the tray. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { formatStatus } from '../../../main/cli/format.ts';
import { buildTrayMenu, trayMenuKey, trayToolTip } from '../../../main/electron/tray-menu.ts';
import { Problems } from '../../../main/engine/problems.ts';
import { statusView, withOutsideProblems } from '../../../main/engine/status-view.ts';
import { endpoint, PLAN_GATE, snapshot } from '../electron/electron-fixtures.ts';

const RENEWAL: UserFacingError = {
  code: 'CERT_RENEWAL',
  message:
    'renewing the client certificate failed (ngrok API at https://api.ngrok.com failed PATCH); the current one is valid for 12 days more, until 2025-08-30T00:00:00.000Z',
  fix: 'ngrokd tries again at 2025-08-18T00:10:00.000Z; connections keep working until the certificate expires.',
  at: '2025-08-18T00:00:00.000Z',
};
const THROTTLED: UserFacingError = {
  code: 'API_THROTTLED',
  message: "ngrok API requests are being held back to stay under ngrok's rate limit",
  fix: 'Raise bound_endpoints.poll_interval to at least 1 s.',
  at: '2025-08-18T00:05:00.000Z',
};

const noop = {
  setEnabled: () => undefined,
  copy: () => undefined,
  openWindow: () => undefined,
  installHelper: () => undefined,
  uninstallHelper: () => undefined,
  quit: () => undefined,
};

test('problems keep warnings apart from errors; a source is one or the other', () => {
  const problems = new Problems();
  problems.set('certificate', RENEWAL, 'warning');
  problems.set('api', PLAN_GATE);
  assert.deepEqual(problems.list(), [PLAN_GATE]);
  assert.deepEqual(problems.warnings(), [RENEWAL]);
  problems.set('certificate', RENEWAL, 'error');
  assert.deepEqual(problems.list(), [RENEWAL, PLAN_GATE]);
  assert.deepEqual(problems.warnings(), []);
  problems.clear('certificate');
  assert.equal(problems.has('certificate'), false);
});

test('warnings are listed most recent first and leave the state as it is', () => {
  const facts = {
    version: '1',
    enabled: true,
    operator: { operatorId: 'k8sop_1', notAfter: new Date('2025-08-30T00:00:00Z') },
    ingress: 'ingress:443',
    mode: 'user' as const,
    interface: { name: 'lo', kind: 'loopback' as const, subnet: '127.171.0.0/16' },
    hostsPath: null,
    lastPollAt: null,
    errors: [],
    warnings: [RENEWAL, THROTTLED],
  };
  const status = statusView(facts, [], 0);
  assert.equal(status.state, 'running');
  assert.deepEqual(status.warnings, [THROTTLED, RENEWAL]);
  assert.deepEqual(status.errors, []);
  assert.deepEqual(withOutsideProblems(status, [PLAN_GATE]).warnings, status.warnings);
  assert.deepEqual(statusView({ ...facts, warnings: undefined }, [], 0).warnings, []);
});

test('`status` prints each warning with its fix, after the problems', () => {
  const text = formatStatus(snapshot([endpoint('web.prod')], { warnings: [RENEWAL] }).status);
  assert.match(text, /: on \(/, 'still simply on');
  assert.match(
    text,
    /problems: {4}none\n {2}warning: {5}\[CERT_RENEWAL\] renewing the client certificate failed .*valid for 12 days more/,
  );
  assert.match(text, /\n {4}fix: ngrokd tries again at/);
});

test('the tray shows the first warning with its fix and opens the window; errors come first', () => {
  let opened = 0;
  const actions = { ...noop, openWindow: () => void opened++ };
  const warned = snapshot([endpoint('web.prod')], { warnings: [RENEWAL, THROTTLED] });
  const items = buildTrayMenu(warned, { helperInstalled: true }, actions);
  const item = items.find((i) => i.label?.startsWith('Warning: '));
  assert.ok(item, JSON.stringify(items.map((i) => i.label)));
  assert.match(item.label ?? '', /^Warning: renewing the client certificate failed.*\(\+1 more\)$/);
  assert.ok((item.label ?? '').length <= 80);
  assert.equal(item.toolTip, RENEWAL.fix);
  item.click?.();
  assert.equal(opened, 1);
  assert.match(trayToolTip(warned), /renewing the client certificate failed/);
  assert.notEqual(
    trayMenuKey(warned, { helperInstalled: true }),
    trayMenuKey(snapshot([endpoint('web.prod')]), { helperInstalled: true }),
  );

  const both = snapshot([endpoint('web.prod')], { errors: [PLAN_GATE], warnings: [RENEWAL] });
  const labels = buildTrayMenu(both, { helperInstalled: true }, actions).map((i) => i.label ?? '');
  const attention = labels.findIndex((l) => l.startsWith('Needs attention: '));
  assert.ok(attention >= 0 && attention < labels.findIndex((l) => l.startsWith('Warning: ')));
  assert.match(trayToolTip(both), /not enabled/);
});
