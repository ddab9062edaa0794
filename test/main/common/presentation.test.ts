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
  // The browser UI cannot open a file dialog or install the helper: no such button there.
  assert.equal(presentProblem(problem('INGRESS_UNTRUSTED'), 'browser').action, null);
  assert.equal(presentProblem(problem('HELPER_MISSING'), 'browser').action, null);
  assert.doesNotMatch(presentProblem(problem('HELPER_MISSING'), 'browser').summary, /Install helper…/);
});
