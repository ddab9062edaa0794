import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caPathError, draftOf, fieldErrors, patchOf } from '../../../renderer/src/settings-form.ts';
import { engineSettings } from '../../main/electron/electron-fixtures.ts';

const saved = engineSettings();

test('only what changed is sent: an untouched form is an empty patch', () => {
  assert.deepEqual(patchOf(saved, draftOf(saved)), {});
  const draft = { ...draftOf(saved), poll_interval: ' 15 ', selectors: 'true\n\n  a == b  \n' };
  assert.deepEqual(patchOf(saved, draft), { poll_interval: 15, selectors: ['true', 'a == b'] });
  // Desktop-only switches are not sent to a browser-mode engine.
  assert.deepEqual(patchOf(saved, { ...draftOf(saved), notifications: true }), {});
});

test('each bad field gets its own sentence naming the value and what is allowed', () => {
  const draft = {
    ...draftOf(saved),
    poll_interval: '0',
    selectors: '',
    subnet: '10.0.0.0/33',
    interface_name: 'eth 0',
  };
  const errors = fieldErrors(patchOf(saved, draft), draft);
  assert.match(errors.poll_interval ?? '', /“0” is not allowed: enter 0.05 to 86,400 seconds/);
  assert.match(errors.selectors ?? '', /at least one selector/);
  assert.match(errors.subnet ?? '', /10\.0\.0\.0\/33/);
  assert.match(errors.interface_name ?? '', /“eth 0”/);
  for (const text of Object.values(errors)) assert.doesNotMatch(text, /[`{}]/, 'no wire format');
  assert.deepEqual(fieldErrors(patchOf(saved, draftOf(saved)), draftOf(saved)), {});
});

test('a CA path: empty is refused with an example, a path is accepted for the engine to check', () => {
  assert.match(caPathError('  ') ?? '', /PEM file/);
  assert.equal(caPathError('/etc/ssl/certs/ngrok-ca.pem'), null);
  assert.match(caPathError('/' + 'a'.repeat(5000)) ?? '', /at most 4,096/);
});
