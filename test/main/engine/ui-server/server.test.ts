/**
 * Browser mode's server without a browser: a one-time link is traded for a session secret held
 * in the page's memory (never a cookie, so other local pages' requests carry nothing), `--open`
 * puts no secret on a command line, state arrives as Server-Sent Events (first at once, then only
 * when changed), commands go through the same dispatch as the control socket, static files never
 * leave the build directory, and a stale build is noticed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import type {
  CommandHandlers,
  StateSnapshot,
  StateUpdate,
  StatusView,
} from '../../../../main/common/contract.ts';
import { StateReplica } from '../../../../main/common/state-delta.ts';
import { StateFeed } from '../../../../main/engine/state-feed.ts';
import { startBrowserUi } from '../../../../main/engine/ui-server/browser-ui.ts';
import type { Launcher } from '../../../../main/engine/ui-server/open-browser.ts';
import { rendererIsStale } from '../../../../main/engine/ui-server/renderer-build.ts';
import { startUiServer, type UiServer } from '../../../../main/engine/ui-server/server.ts';
import { uiRequest } from '../../../support/http.ts';
import {
  exchange,
  linkToken,
  openLikeABrowser,
  samePage,
  sessionHeaders,
} from '../../../support/ui-session.ts';

function status(enabled: boolean): StatusView {
  return {
    version: '0.0.0-test',
    state: enabled ? 'running' : 'off',
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
    warnings: [],
    totals: { bytes_in: 0, bytes_out: 0, connections: 0 },
  };
}

/** Read `count` events named `name` from `path` (with these auth headers), then hang up. */
function readEvents<T = StateSnapshot>(
  ui: UiServer,
  auth: Record<string, string>,
  count: number,
  onEvent?: (n: number) => void,
  { path = '/api/events', name = 'state' } = {},
): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const events: T[] = [];
    const req = http.get(
      {
        host: '127.0.0.1',
        port: Number(new URL(ui.origin).port),
        path,
        agent: false,
        headers: { Host: new URL(ui.origin).host, ...auth },
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
            if (!block.split('\n').includes(`event: ${name}`) || data === undefined) continue;
            events.push(JSON.parse(data.slice('data: '.length)) as T);
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
  const json = { 'Content-Type': 'application/json' };
  const invoke = (method: string, params: object): string => JSON.stringify({ method, params });

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
      setApiKey: ({ apiKey }: { apiKey: string }) => {
        calls.push(`setApiKey ${apiKey}`);
        return snapshot.status;
      },
      logout: () => {
        calls.push('logout');
        return { deleted: true };
      },
    } as unknown as CommandHandlers;
    ui = await startUiServer({
      handlers,
      feed: new StateFeed({
        snapshot: () => {
          reads++;
          return snapshot;
        },
      }),
      staticDir: join(dir, 'dist'),
      eventIntervalMs: 20,
    });
  });

  after(async () => {
    await ui.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the link is http://127.0.0.1:PORT/#token=<32 random bytes>: the token stays out of every request line', () => {
    const url = new URL(ui.url);
    assert.equal(url.hostname, '127.0.0.1');
    assert.equal(url.pathname, '/');
    assert.equal(url.search, '', 'nothing secret in the part a browser sends');
    assert.equal(Buffer.from(linkToken(ui.url) ?? '', 'base64url').length, 32);
    assert.notEqual(linkToken(ui.newLink()), linkToken(ui.newLink()), 'every link has its own token');
  });

  test('opening the link sets no cookie; its token is traded for a session exactly once', async () => {
    const link = ui.newLink();
    const tab = await openLikeABrowser(ui, link);
    assert.deepEqual(tab.cookies, [], 'no Set-Cookie on the way');
    assert.ok(tab.session !== null && Buffer.from(tab.session, 'base64url').length === 32);
    const hello = invoke('hello', {});
    const ok = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: { ...json, ...samePage(ui), Authorization: `Bearer ${tab.session}` },
      body: hello,
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { result: { protocol: 1, version: '0.0.0-test' } });

    // The same link a second time (a reload with the token still in the address bar, or someone
    // who saw it): refused, with a message and a fix.
    const again = await exchange(ui, linkToken(link));
    assert.equal(again.status, 401);
    const error = (JSON.parse(again.body) as { error: { code: string; message: string; fix: string } }).error;
    assert.equal(error.code, 'UI_TOKEN');
    assert.match(error.message, /already used/);
    assert.match(error.fix, /press Enter/);
    assert.equal((await exchange(ui, 'x'.repeat(43))).status, 401);
    assert.equal((await exchange(ui, null)).status, 401);

    // Only a session secret authorises the API: not the link token, not a forged secret.
    for (const auth of [`Bearer ${linkToken(ui.newLink())}`, `Bearer ${'x'.repeat(43)}`, '', tab.session]) {
      const res = await uiRequest(ui, {
        method: 'POST',
        path: '/api/invoke',
        headers: { ...json, Authorization: auth },
        body: hello,
      });
      assert.equal(res.status, 401, `Authorization ${JSON.stringify(auth.slice(0, 12))}`);
      assert.match(res.body, /no ngrokd UI session/);
    }
  });

  test('a page on another 127.0.0.1 port cannot use the tab that opened the link; the engine state does not change', async () => {
    // What the browser holds after opening the link: any cookie is sent along with requests made
    // by any page on 127.0.0.1 (cookies ignore ports); the session secret is in the tab's memory.
    const tab = await openLikeABrowser(ui, ui.url);
    assert.deepEqual(tab.cookies, [], 'the browser holds no cookie for 127.0.0.1');
    const cookie: Record<string, string> = tab.cookies.length === 0 ? {} : { Cookie: tab.cookies.join('; ') };
    const foreignOrigin = 'http://127.0.0.1:18080';
    const before = JSON.stringify(snapshot);
    const attacks: { name: string; headers: Record<string, string> }[] = [
      {
        name: 'a fetch() or form from the foreign page',
        headers: { Origin: foreignOrigin, 'Sec-Fetch-Site': 'same-site' },
      },
      { name: 'a same-site request without Origin', headers: { 'Sec-Fetch-Site': 'same-site' } },
      { name: 'a request with neither Origin nor Sec-Fetch-Site', headers: {} },
      { name: 'a cross-site request', headers: { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' } },
    ];
    const commands = [
      invoke('setEnabled', { enabled: false }),
      invoke('setApiKey', { apiKey: 'attacker_key_0123456789' }),
      invoke('logout', {}),
    ];
    for (const attack of attacks) {
      for (const body of commands) {
        const res = await uiRequest(ui, {
          method: 'POST',
          path: '/api/invoke',
          headers: { ...json, ...cookie, ...attack.headers },
          body,
        });
        assert.ok([401, 403].includes(res.status), `${attack.name}: ${body} answered ${res.status}`);
      }
      const events = await uiRequest(ui, { path: '/api/events', headers: { ...cookie, ...attack.headers } });
      assert.ok([401, 403].includes(events.status), `${attack.name}: /api/events answered ${events.status}`);
    }
    // Even holding the secret (which a foreign page cannot read), a foreign Origin or Sec-Fetch-Site is refused.
    for (const headers of [{ Origin: foreignOrigin }, { 'Sec-Fetch-Site': 'same-site' }] as Record<
      string,
      string
    >[]) {
      const res = await uiRequest(ui, {
        method: 'POST',
        path: '/api/invoke',
        headers: { ...json, ...headers, Authorization: `Bearer ${tab.session}` },
        body: invoke('setEnabled', { enabled: false }),
      });
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.match(res.body, /Use the ngrokd UI page itself/);
    }
    // A foreign page cannot even trade a link: the exchange checks where it comes from too.
    const trade = await uiRequest(ui, {
      method: 'POST',
      path: '/api/session',
      headers: { ...json, Origin: foreignOrigin },
      body: JSON.stringify({ token: linkToken(ui.newLink()) }),
    });
    assert.equal(trade.status, 403);
    assert.deepEqual(calls, [], 'no command reached the engine');
    assert.equal(JSON.stringify(snapshot), before, 'the engine state did not change');
  });

  test('the event stream needs the session secret too (a cookie, a query token or the link token do not do)', async () => {
    const token = linkToken(ui.newLink()) ?? '';
    for (const [path, headers] of [
      ['/api/events', {}],
      [`/api/events?token=${token}`, {}],
      ['/api/events', { Authorization: `Bearer ${token}` }],
      ['/api/events', { Cookie: `ngrokd_ui_${new URL(ui.origin).port}=${token}` }],
    ] as const) {
      const res = await uiRequest(ui, { path, headers });
      assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'UI_TOKEN');
    }
    const [first] = await readEvents(ui, await sessionHeaders(ui), 1);
    assert.equal(first?.status.enabled, true);
  });

  test('--open gives the opener only the path of a 0600 redirect file, removed once its link is used', async () => {
    const launched: {
      command: string;
      args: readonly string[];
      mode: number;
      dirMode: number;
      uid: number;
      content: string;
    }[] = [];
    const launch: Launcher = async (command, args) => {
      const file = args[0] as string;
      launched.push({
        command,
        args,
        mode: statSync(file).mode & 0o777,
        dirMode: statSync(dirname(file)).mode & 0o777,
        uid: statSync(file).uid,
        content: readFileSync(file, 'utf8'),
      });
    };
    const opened = ui.openBrowser({ launch });
    await opened.launched;
    const [run] = launched;
    assert.ok(run);
    assert.equal(run.command, process.platform === 'darwin' ? 'open' : 'xdg-open');
    assert.deepEqual(run.args, [opened.file]);
    assert.equal(run.mode, 0o600, 'only this user can read the file');
    assert.equal(run.dirMode, 0o700);
    assert.equal(run.uid, process.getuid?.());
    const target = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(run.content)?.[1] ?? '';
    assert.ok(target.startsWith(`${ui.origin}/#token=`), run.content);
    const token = linkToken(target) ?? '';
    assert.equal(Buffer.from(token, 'base64url').length, 32);
    assert.doesNotMatch(run.content, /<script/i, 'a redirect, no script');
    const argv = [run.command, ...run.args].join(' ');
    assert.ok(!argv.includes(token), `no secret on the command line: ${argv}`);
    assert.doesNotMatch(argv, /token|#/);

    assert.equal(existsSync(opened.file), true, 'the file waits for the browser');
    assert.equal(
      (await exchange(ui, token)).status,
      200,
      'the browser follows the redirect and trades the token',
    );
    assert.equal(existsSync(opened.file), false, 'removed once used');
    assert.equal(existsSync(dirname(opened.file)), false);
    assert.equal((await exchange(ui, token)).status, 401, 'and the link is used up');
  });

  test('an unused --open file is short-lived: removed, and its link revoked, after the TTL; a failed opener removes it at once', async () => {
    let file = '';
    const opened = ui.openBrowser({
      ttlMs: 50,
      launch: async (_command, args) => {
        file = args[0] as string;
      },
    });
    await opened.launched;
    const token = linkToken(/url=([^"]+)"/.exec(readFileSync(file, 'utf8'))?.[1] ?? '') ?? '';
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(existsSync(file), false);
    assert.equal((await exchange(ui, token)).status, 401, 'an expired file takes its link with it');

    const failed = ui.openBrowser({
      launch: () => Promise.reject(new Error('xdg-open: not found')),
    });
    await assert.rejects(failed.launched, /not found/);
    assert.equal(existsSync(failed.file), false);
  });

  test('`--ui --open` prints a working link, opens another one through the file, and Enter prints a new one', async () => {
    const lines: string[] = [];
    const argvs: string[][] = [];
    const input = new PassThrough();
    const browser = await startBrowserUi(
      {
        handlers: { hello: () => ({ protocol: 1, version: 't' }) } as unknown as CommandHandlers,
        feed: new StateFeed({ snapshot: () => snapshot }),
      },
      {
        open: true,
        launch: async (command, args) => {
          argvs.push([command, ...args]);
        },
        input,
        write: (line) => lines.push(line),
        staticDir: join(dir, 'dist'),
      },
    );
    try {
      await new Promise((r) => setImmediate(r));
      const printed = lines
        .map((l) => /^ngrokd UI: (http:\/\/\S+)$/.exec(l)?.[1])
        .filter((u) => u !== undefined);
      assert.deepEqual(printed, [browser.url]);
      assert.match(lines.join('\n'), /works once.*press Enter/);
      assert.equal(argvs.length, 1);
      const opened = readFileSync(argvs[0]?.[1] ?? '', 'utf8');
      const openedToken = linkToken(/url=([^"]+)"/.exec(opened)?.[1] ?? '');
      assert.ok(
        openedToken !== null && openedToken !== linkToken(browser.url),
        'the opened and the printed link differ',
      );
      assert.ok(!argvs[0]?.join(' ').includes(openedToken));
      input.write('\n');
      await new Promise((r) => setImmediate(r));
      const fresh = /^ngrokd UI: (http:\/\/\S+)$/.exec(lines.at(-1) ?? '')?.[1] ?? '';
      assert.notEqual(fresh, browser.url);
      for (const link of [browser.url, fresh]) {
        const tokenOf = linkToken(link);
        const res = await uiRequest(browser, {
          method: 'POST',
          path: '/api/session',
          headers: { ...json, Origin: browser.origin },
          body: JSON.stringify({ token: tokenOf }),
        });
        assert.equal(res.status, 200, link);
      }
    } finally {
      await browser.close();
    }
    assert.equal(input.listenerCount('data'), 0, 'closing stops listening for Enter');
  });

  test('commands are validated by the shared dispatch; errors carry message and fix', async () => {
    const headers = { ...json, ...(await sessionHeaders(ui)) };
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
    const seen = await readEvents(ui, await sessionHeaders(ui), 3, (n) => {
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

  test('events?event=stateUpdate: a versioned snapshot at once, then deltas against the version before', async () => {
    snapshot = { status: status(true), endpoints: [] };
    const replica = new StateReplica();
    const seen = await readEvents<StateUpdate>(
      ui,
      await sessionHeaders(ui),
      3,
      (n) => {
        if (n === 1) snapshot = { ...snapshot, status: { ...status(true), endpoint_count: 3 } };
        else if (n === 2) snapshot = { ...snapshot, status: { ...status(true), endpoint_count: 4 } };
      },
      { path: '/api/events?event=stateUpdate', name: 'stateUpdate' },
    );
    assert.deepEqual(
      seen.map((u) => u.kind),
      ['snapshot', 'delta', 'delta'],
    );
    for (let i = 1; i < seen.length; i++)
      assert.equal((seen[i] as Extract<StateUpdate, { kind: 'delta' }>).base, seen[i - 1]?.version);
    for (const update of seen) replica.apply(update);
    assert.deepEqual(replica.state, snapshot, 'the deltas rebuild the state');
    const unknown = await uiRequest(ui, {
      path: '/api/events?event=nope',
      headers: await sessionHeaders(ui),
    });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /there is no event \\"nope\\"/);
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
