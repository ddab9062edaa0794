import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointHealth, localUrl, portNote } from '../../../renderer/src/endpoint-health.ts';
import { endpoint } from '../../main/electron/electron-fixtures.ts';

const refused = { code: 'UPGRADE_REFUSED' as const, message: 'refused', fix: 'fix it' };

test('a row is green only when nothing says otherwise', () => {
  assert.deepEqual(endpointHealth(endpoint('web.prod')), { tone: 'ok', problem: null });
  assert.equal(endpointHealth(endpoint('web.prod', { listening: false })).tone, 'error');
  assert.equal(endpointHealth(endpoint('web.prod', { last_error: refused })).tone, 'warning');
  // Failed connections and never one success: not healthy, even without a current error.
  const neverWorked = endpointHealth(endpoint('web.prod', { errors: 3, last_ok_at: null }));
  assert.equal(neverWorked.tone, 'warning');
  assert.match(neverWorked.problem ?? '', /No connection has got through yet/);
  // Errors in the past, a success since: ok.
  const recovered = endpoint('web.prod', { errors: 3, last_ok_at: '2026-12-02T10:00:00.000Z' });
  assert.equal(endpointHealth(recovered).tone, 'ok');
});

test('the URL that works here carries the port actually listened on; "for :80" says which it stands for', () => {
  const web = { proto: 'http' as const, hostname: 'checkout.shop', port: 80, listen_port: 10080 };
  assert.equal(localUrl(web), 'http://checkout.shop:10080/');
  assert.equal(portNote(web), 'for :80');
  assert.equal(localUrl({ ...web, listen_port: 80 }), 'http://checkout.shop/');
  assert.equal(portNote({ ...web, listen_port: 80 }), null);
  assert.equal(localUrl({ proto: 'tcp', hostname: 'db.prod', listen_port: 5432 }), 'tcp://db.prod:5432');
});
