/**
 * Browser mode's server without a browser: the token is traded for a cookie, state arrives as
 * Server-Sent Events (first at once, then only when changed), commands go through the same
 * dispatch as the control socket, static files never leave the build directory, and a stale
 * build is noticed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandHandlers, StateSnapshot, StatusView } from '../../main/common/contract.ts';
import { rendererIsStale, startUiServer, type UiServer } from '../../main/engine/ui-server.ts';
import { uiRequest } from '../support/http.ts';

function status(enabled: boolean): StatusView {
  return {
    version: '0.0.0-test',
    enabled,
    registered: true,
    operator_id: 'k8sop_test',
    ingress_endpoint: '127.0.0.1:1',
    mode: 'user',
    interface: { name: 'lo', kind: 'loopback', subnet: '127.141.0.0/16' },
    endpoint_count: 0,
    hosts_path: null,
    cert_not_after: null,
    last_poll_at: null,
    last_error: null,
    errors: [],
    totals: { bytes_in: 0, bytes_out: 0, connections: 0 },
  };
}

/** Read `count` state events from /api/events, then hang up. */
function readEvents(ui: UiServer, count: number, onEvent?: (n: number) => void): Promise<StateSnapshot[]> {
  return new Promise((resolve, reject) => {
    const events: StateSnapshot[] = [];
    const req = http.get(
      {
        host: '127.0.0.1',
        port: Number(new URL(ui.origin).port),
        path: '/api/events',
        agent: false,
        headers: { Host: new URL(ui.origin).host, Authorization: `Bearer ${ui.token}` },
      },
      (res) => {
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /^text\/event-stream/);
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (!block.includes('event: state') || data === undefined) continue;
            events.push(JSON.parse(data.slice('data: '.length)) as StateSnapshot);
            onEvent?.(events.length);
            if (events.length === count) {
              req.destroy();
              resolve(events);
            }
          }
        });
      },
    );
    req.on('error', (err) => {
      if (events.length < count) reject(err);
    });
  });
}

describe('browser-mode UI server', () => {
  let dir: string;
  let ui: UiServer;
  let snapshot: StateSnapshot;
  let reads = 0;
  const calls: unknown[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ngrokd-ui-'));
    mkdirSync(join(dir, 'dist', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(dir, 'dist', 'assets', 'app-1234.js'), 'export {};');
    writeFileSync(join(dir, 'secret.txt'), 'outside the build');
    snapshot = { status: status(true), endpoints: [] };
    const handlers = {
      hello: () => ({ protocol: 1, version: '0.0.0-test' }),
      setEnabled: ({ enabled }: { enabled: boolean }) => {
        calls.push(enabled);
        snapshot = { ...snapshot, status: status(enabled) };
        return snapshot.status;
      },
    } as unknown as CommandHandlers;
    ui = await startUiServer({
      handlers,
      source: {
        snapshot: () => {
          reads++;
          return snapshot;
        },
      },
      staticDir: join(dir, 'dist'),
      eventIntervalMs: 20,
    });
  });

  after(async () => {
    await ui.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the URL carries a 32-byte random token, on 127.0.0.1', () => {
    const url = new URL(ui.url);
    assert.equal(url.hostname, '127.0.0.1');
    assert.equal(Buffer.from(url.searchParams.get('token') ?? '', 'base64url').length, 32);
  });

  test('opening the URL trades the token for an HttpOnly SameSite cookie that authorises the API', async () => {
    const open = await uiRequest(ui, { path: `/?token=${ui.token}` });
    assert.equal(open.status, 303);
    assert.equal(open.headers.location, '/');
    const cookie = String(open.headers['set-cookie']?.[0]);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const pair = cookie.split(';')[0] as string;
    const body = JSON.stringify({ method: 'hello', params: {} });
    const json = { 'Content-Type': 'application/json' };
    const ok = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: { ...json, Cookie: pair },
      body,
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { result: { protocol: 1, version: '0.0.0-test' } });
    const forged = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: { ...json, Cookie: pair.replace(/=.*/, '=forged') },
      body,
    });
    assert.equal(forged.status, 401);
  });

  test('commands are validated by the shared dispatch; errors carry message and fix', async () => {
    const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${ui.token}` };
    const unknown = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers,
      body: JSON.stringify({ method: 'rm -rf', params: {} }),
    });
    assert.equal(unknown.status, 400);
    const error = (JSON.parse(unknown.body) as { error: { message: string; fix: string } }).error;
    assert.match(error.message, /unknown method "rm -rf"/);
    assert.ok(error.fix.length > 0);
    const form = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'method=setEnabled',
    });
    assert.equal(form.status, 415, 'a plain HTML form cannot post commands');
    const notJson = await uiRequest(ui, { method: 'POST', path: '/api/invoke', headers, body: '{' });
    assert.equal(notJson.status, 400);
    assert.deepEqual(calls, []);
  });

  test('events: a snapshot at once, then only when the state changed', async () => {
    const seen = await readEvents(ui, 3, (n) => {
      if (n === 1) {
        // Several ticks with nothing new must not produce an event...
        const readsAtFirst = reads;
        const wait = setInterval(() => {
          if (reads < readsAtFirst + 5) return;
          clearInterval(wait);
          snapshot = { ...snapshot, status: status(false) }; // ...a change must.
        }, 5);
      } else if (n === 2) {
        snapshot = { ...snapshot, status: { ...status(false), endpoint_count: 7 } };
      }
    });
    assert.deepEqual(
      seen.map((s) => [s.status.enabled, s.status.endpoint_count]),
      [
        [true, 0],
        [false, 0],
        [false, 7],
      ],
    );
  });

  test('static files come only from the build directory, with the CSP and sensible caching', async () => {
    const index = await uiRequest(ui, { path: '/' });
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.match(String(index.headers['content-security-policy']), /script-src 'self'/);
    const asset = await uiRequest(ui, { path: '/assets/app-1234.js' });
    assert.equal(asset.status, 200);
    assert.match(String(asset.headers['content-type']), /^text\/javascript/);
    assert.match(String(asset.headers['cache-control']), /immutable/);
    for (const path of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/%E0%A4%A',
    ])
      assert.equal((await uiRequest(ui, { path })).status, 404, path);
    assert.equal((await uiRequest(ui, { method: 'POST', path: '/' })).status, 405);
  });

  test('a foreign Host header is refused before anything else (DNS rebinding)', async () => {
    const res = await uiRequest(ui, { path: '/', headers: { Host: 'ngrokd.attacker.example' } });
    assert.equal(res.status, 403);
    const localhost = await uiRequest(ui, {
      path: '/',
      headers: { Host: `localhost:${new URL(ui.origin).port}` },
    });
    assert.equal(localhost.status, 200);
  });

  test('a build older than its sources is stale; a newer one is not', () => {
    const root = join(dir, 'repo');
    mkdirSync(join(root, 'renderer', 'src'), { recursive: true });
    mkdirSync(join(root, 'renderer', 'dist'), { recursive: true });
    assert.equal(rendererIsStale(root), true, 'no build at all');
    writeFileSync(join(root, 'renderer', 'src', 'App.tsx'), 'export {};');
    writeFileSync(join(root, 'renderer', 'dist', 'index.html'), '');
    const past = new Date(Date.now() - 60_000);
    const now = new Date();
    utimesSync(join(root, 'renderer', 'src', 'App.tsx'), past, past);
    utimesSync(join(root, 'renderer', 'src'), past, past);
    utimesSync(join(root, 'renderer', 'dist', 'index.html'), now, now);
    assert.equal(rendererIsStale(root), false);
    utimesSync(
      join(root, 'renderer', 'src', 'App.tsx'),
      new Date(Date.now() + 60_000),
      new Date(Date.now() + 60_000),
    );
    assert.equal(rendererIsStale(root), true, 'an edited source');
  });
});
