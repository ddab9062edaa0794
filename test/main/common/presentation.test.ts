import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, type ErrorCode } from '../../../main/common/errors.ts';
import { presentProblem } from '../../../main/common/presentation.ts';

const problem = (code: ErrorCode, extra: { ngrokCode?: string } = {}) => ({
  code,
  message: `the message of ${code} naming "value"`,
  fix: 'Run `npm run ngrokd -- something` (a terminal fix).',
  ...extra,
});

test('every code has a plain title without codes, and a summary', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    for (const surface of ['desktop', 'browser'] as const) {
      const shown = presentProblem(problem(code), surface);
      assert.ok(shown.title.length > 0);
      assert.doesNotMatch(shown.title, /ERR_NGROK|[A-Z]{3,}_[A-Z]/, `${code}: no codes in the title`);
      assert.ok(shown.summary.length > 0, `${code} on ${surface}`);
    }
  }
});

test('codes and values go to the details; actions name what the surface has', () => {
  const rejected = presentProblem(problem('API_AUTH', { ngrokCode: 'ERR_NGROK_105' }), 'desktop');
  assert.equal(rejected.action?.label, 'Change API key…');
  assert.doesNotMatch(rejected.summary, /ERR_NGROK|`/);
  assert.match(rejected.details, /ERR_NGROK_105/);
  assert.match(rejected.details, /naming "value"/);
  assert.equal(presentProblem(problem('INGRESS_UNTRUSTED'), 'desktop').action?.kind, 'choose-ca-file');
  // The browser UI has no file dialog: its button leads to the CA path field in Settings.
  const untrusted = presentProblem(problem('INGRESS_UNTRUSTED'), 'browser');
  assert.deepEqual(untrusted.action, { kind: 'choose-ca-file', label: 'Set CA file…' });
  assert.match(untrusted.summary, /in Settings/);
  // Nor can it install the helper.
  assert.equal(presentProblem(problem('HELPER_MISSING'), 'browser').action, null);
  assert.doesNotMatch(presentProblem(problem('HELPER_MISSING'), 'browser').summary, /Install helper…/);
});

test('no backticks and no wire formats on a graphical surface, whatever the error says', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[])
    for (const surface of ['desktop', 'browser'] as const) {
      const shown = presentProblem(problem(code), surface);
      for (const text of [shown.title, shown.summary, shown.details])
        assert.doesNotMatch(text, /`|\{"v"/, `${code} on ${surface}: ${text}`);
    }
  const rejected = presentProblem(
    {
      code: 'PROTOCOL_ERROR',
      message:
        'invalid params for updateSettings: subnet "10.0.0.0/33" has prefix /33 (IPv4 prefixes go up to /32)',
      fix: 'Send {"v":1,"id":N,"method":M,"params":{}}.',
    },
    'browser',
  );
  assert.equal(rejected.title, 'Not accepted');
  assert.equal(rejected.summary, 'subnet "10.0.0.0/33" has prefix /33 (IPv4 prefixes go up to /32)');
  assert.doesNotMatch(rejected.details, /Send|"v"/);
});

test('a lost daemon gets the sentence for its surface', () => {
  const lost = {
    code: 'NOT_RUNNING' as const,
    message: 'lost the connection to the ngrokd daemon',
    fix: 'Check that `ngrokd daemon --ui` is still running; this page reconnects by itself.',
  };
  const browser = presentProblem(lost, 'browser');
  const desktop = presentProblem(lost, 'desktop');
  assert.equal(browser.title, 'Disconnected from ngrokd');
  assert.match(browser.summary, /“ngrokd daemon --ui”/);
  assert.doesNotMatch(desktop.summary, /daemon --ui/, 'the desktop app has no terminal command to give');
  assert.match(desktop.summary, /open it again/);
  assert.match(desktop.details, /“ngrokd daemon --ui”/);
});
