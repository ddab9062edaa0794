import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAgo, formatEndpoints } from '../../../main/cli/format.ts';
import { endpoint } from '../electron/electron-fixtures.ts';

const NOW = Date.parse('2026-01-02T10:00:00Z');

test('formatAgo: seconds, minutes, hours, days; "-" for never', () => {
  assert.equal(formatAgo(null, NOW), '-');
  assert.equal(formatAgo('2026-01-02T09:59:48Z', NOW), '12 s ago');
  assert.equal(formatAgo('2026-01-02T09:57:00Z', NOW), '3 min ago');
  assert.equal(formatAgo('2026-01-02T05:00:00Z', NOW), '5 h ago');
  assert.equal(formatAgo('2025-12-30T10:00:00Z', NOW), '3 d ago');
});

test('list shows when each endpoint last got through and what last failed', () => {
  const text = formatEndpoints(
    [
      endpoint('web.prod', { last_ok_at: '2026-01-02T09:57:00Z', last_ingress_error: 'ERR_NGROK_28001' }),
      endpoint('db.prod', { port: 5432 }),
    ],
    NOW,
  );
  const [header, web, db] = text.split('\n');
  assert.match(header ?? '', /LAST OK\s+LAST ERROR$/);
  assert.match(web ?? '', /^web\.prod .* 3 min ago\s+ERR_NGROK_28001$/);
  assert.match(db ?? '', /^db\.prod .* -\s+-$/);
});
