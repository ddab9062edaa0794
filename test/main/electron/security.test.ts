import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HandlerDetails, WindowOpenHandlerResponse } from 'electron';
import {
  CONTENT_SECURITY_POLICY,
  guardNavigation,
  guardSession,
  isAllowedExternalUrl,
  isPermissionAllowed,
  isTrustedSender,
  secureWindowOptions,
  serveAppAsset,
  type GuardedContents,
  type GuardedSession,
} from '../../../main/electron/security.ts';
import { windowUrl } from '../../../main/electron/window.ts';

test('the window is isolated, sandboxed, without Node, with web security on', () => {
  const options = secureWindowOptions({ preload: '/app/out/preload/preload.cjs', devTools: false });
  const prefs = options.webPreferences ?? {};
  assert.equal(prefs.contextIsolation, true);
  assert.equal(prefs.sandbox, true);
  assert.equal(prefs.nodeIntegration, false);
  assert.equal(prefs.nodeIntegrationInWorker, false);
  assert.equal(prefs.nodeIntegrationInSubFrames, false);
  assert.equal(prefs.webSecurity, true);
  assert.equal(prefs.allowRunningInsecureContent, false);
  assert.equal(prefs.webviewTag, false);
  assert.equal(prefs.devTools, false);
  assert.equal(prefs.preload, '/app/out/preload/preload.cjs');
  assert.equal(options.show, false, 'shown when ready, no white flash');
});

/** A webContents stand-in that keeps the listeners the guard installs. */
function fakeContents() {
  const listeners = new Map<string, (event: { preventDefault(): void }, url?: string) => void>();
  let openHandler: ((details: HandlerDetails) => WindowOpenHandlerResponse) | null = null;
  const contents = {
    on: (name: string, listener: (event: { preventDefault(): void }, url?: string) => void) => {
      listeners.set(name, listener);
      return contents;
    },
    setWindowOpenHandler: (handler: (details: HandlerDetails) => WindowOpenHandlerResponse) => {
      openHandler = handler;
    },
  };
  const fire = (name: string, url: string): boolean => {
    let prevented = false;
    const listener = listeners.get(name);
    assert.ok(listener, `no ${name} listener`);
    listener({ preventDefault: () => (prevented = true) }, url);
    return prevented;
  };
  const open = (url: string): WindowOpenHandlerResponse => {
    assert.ok(openHandler, 'no window open handler');
    return openHandler({
      url,
      frameName: '',
      features: '',
      disposition: 'new-window',
      referrer: { url: '', policy: 'no-referrer' },
    } as unknown as HandlerDetails);
  };
  return { contents: contents as unknown as GuardedContents, fire, open };
}

test('navigation and window.open are denied; only allowed https links go to the browser', () => {
  const opened: string[] = [];
  const { contents, fire, open } = fakeContents();
  guardNavigation(contents, (url) => opened.push(url));
  for (const url of ['https://evil.example/', 'app://ngrokd/index.html', 'file:///etc/passwd']) {
    assert.equal(fire('will-navigate', url), true, `will-navigate ${url}`);
    assert.equal(fire('will-frame-navigate', url), true);
    assert.equal(fire('will-redirect', url), true);
  }
  assert.equal(fire('will-attach-webview', 'about:blank'), true);
  for (const url of [
    'https://dashboard.ngrok.com/api-keys',
    'https://evil.example/',
    'http://dashboard.ngrok.com/',
    'https://user:pw@dashboard.ngrok.com/',
    'https://dashboard.ngrok.com:8443/',
    'javascript:alert(1)',
    'app://ngrokd/index.html',
  ]) {
    assert.deepEqual(open(url), { action: 'deny' }, url);
  }
  assert.deepEqual(opened, ['https://dashboard.ngrok.com/api-keys']);
  assert.equal(isAllowedExternalUrl('https://ngrok.com/docs'), true);
  assert.equal(isAllowedExternalUrl('https://ngrok.com.evil.example/'), false);
});

test('IPC is accepted only from the top frame of app://ngrokd', () => {
  assert.equal(isTrustedSender({ url: 'app://ngrokd/index.html#settings', parent: null }), true);
  assert.equal(isTrustedSender({ url: 'app://ngrokd/index.html', parent: {} }), false);
  assert.equal(isTrustedSender({ url: 'app://ngrokd.evil/index.html', parent: null }), false);
  assert.equal(isTrustedSender({ url: 'http://127.0.0.1:5173/', parent: null }), false);
  assert.equal(isTrustedSender(null), false);
  assert.equal(isTrustedSender(undefined), false);
  assert.equal(windowUrl('settings'), 'app://ngrokd/index.html#settings');
});

test('permissions: only clipboard writes from our own page', async () => {
  assert.equal(isPermissionAllowed('clipboard-sanitized-write', 'app://ngrokd/index.html'), true);
  assert.equal(isPermissionAllowed('clipboard-sanitized-write', 'https://evil.example/'), false);
  for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) {
    assert.equal(isPermissionAllowed(permission, 'app://ngrokd/index.html'), false, permission);
  }
  const decisions: boolean[] = [];
  let headers: Record<string, string[]> | undefined;
  const session = {
    setPermissionRequestHandler: (handler: (...args: unknown[]) => void) =>
      handler({ getURL: () => 'app://ngrokd/' }, 'media', (ok: boolean) => decisions.push(ok), {}),
    setPermissionCheckHandler: (handler: (...args: unknown[]) => boolean) =>
      decisions.push(handler(null, 'clipboard-sanitized-write', 'app://ngrokd')),
    webRequest: {
      onHeadersReceived: (
        handler: (
          details: unknown,
          callback: (r: { responseHeaders: Record<string, string[]> }) => void,
        ) => void,
      ) => handler({ responseHeaders: { 'X-Other': ['1'] } }, (r) => (headers = r.responseHeaders)),
    },
  };
  guardSession(session as unknown as GuardedSession);
  assert.deepEqual(decisions, [false, true]);
  assert.deepEqual(headers, { 'X-Other': ['1'], 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] });
});

test('the CSP allows nothing but our own files', () => {
  const directives = new Map(
    CONTENT_SECURITY_POLICY.split('; ').map((d) => {
      const [name, ...values] = d.split(' ');
      return [name, values.join(' ')];
    }),
  );
  assert.equal(directives.get('default-src'), "'self'");
  assert.equal(directives.get('script-src'), "'self'");
  assert.equal(directives.get('object-src'), "'none'");
  assert.equal(CONTENT_SECURITY_POLICY.includes('unsafe'), false);
});

test('app:// serves the renderer build with the CSP, and nothing outside it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ngrokd-app-protocol-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dist = join(root, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>ngrokd</title>');
  writeFileSync(join(dist, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(root, 'secret.txt'), 'do not serve');

  const index = await serveAppAsset(dist, 'app://ngrokd/');
  assert.equal(index.status, 200);
  assert.equal(index.headers['Content-Type'], 'text/html; charset=utf-8');
  assert.equal(index.headers['Content-Security-Policy'], CONTENT_SECURITY_POLICY);
  assert.equal(String(index.body), '<!doctype html><title>ngrokd</title>');
  const script = await serveAppAsset(dist, 'app://ngrokd/assets/app.js?v=1');
  assert.equal(script.status, 200);
  assert.equal(script.headers['Content-Type'], 'text/javascript; charset=utf-8');
  assert.equal(
    (await serveAppAsset(dist, 'app://ngrokd/settings')).status,
    200,
    'client routes get index.html',
  );
  assert.equal((await serveAppAsset(dist, 'app://ngrokd/missing.js')).status, 404);
  for (const url of [
    'app://ngrokd/../secret.txt',
    'app://ngrokd/%2e%2e/secret.txt',
    'app://ngrokd/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
    'app://ngrokd/..%5csecret.txt',
  ]) {
    const response = await serveAppAsset(dist, url);
    assert.notEqual(String(response.body), 'do not serve', url);
    assert.notEqual(response.status, 200, url);
  }
  assert.equal((await serveAppAsset(dist, 'app://other/index.html')).status, 403);
  assert.equal((await serveAppAsset(dist, 'app://ngrokd/%00.js')).status, 400);
});
