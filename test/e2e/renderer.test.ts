/**
 * The UI as a user sees it: Debian's Chromium (headless, via playwright-core) opens browser mode,
 * served by the real engine in user mode against the simulator. Onboarding, endpoints with their
 * IPs, click-to-copy, the on/off toggle closing real listeners, an untrusted ingress certificate
 * shown with its fix, settings, keyboard use, the one-time link and its in-memory session (no
 * cookie; a page on another 127.0.0.1 port gets nowhere), `--open`'s redirect file, and 10,000
 * endpoints staying responsive.
 * Screenshots and timings go to test/artifacts/e2e/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { EndpointView, StateSnapshot } from '../../main/common/contract.ts';
import { ensureRendererBuilt } from '../../main/engine/ui-server/renderer-build.ts';
import { startUiServer, type UiServer } from '../../main/engine/ui-server/server.ts';
import { StateFeed } from '../../main/engine/state-feed.ts';
import { startEngineHarness, type EngineHarness } from '../support/engine-fixture.ts';
import { canConnect, httpRequest, uiRequest } from '../support/http.ts';
import { exchange, linkToken, sessionHeaders } from '../support/ui-session.ts';
import { userModeEngine } from '../support/user-mode-engine.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const ARTIFACTS = join(ROOT, 'test', 'artifacts', 'e2e');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SUBNET = '127.140.0.0/16';
const BIG = 10_000;

/**
 * The browser globals the page-side callbacks use. The root tsconfig has no DOM library (the
 * engine must not see one), so each callback casts `globalThis` to this; the cast is erased.
 */
interface PageElement {
  getAttribute(name: string): string | null;
  blur(): void;
  dispatchEvent(event: Event): boolean;
  textContent: string | null;
  scrollTop: number;
}
interface PageGlobals {
  document: {
    querySelector(selector: string): PageElement | null;
    querySelectorAll(selector: string): { length: number };
    activeElement: PageElement | null;
    body: { innerText: string };
    addEventListener(
      type: string,
      listener: (e: { violatedDirective: string; blockedURI: string }) => void,
    ): void;
  };
  navigator: { clipboard: { readText(): Promise<string> } };
  requestAnimationFrame(callback: () => void): number;
  HTMLInputElement: { prototype: object };
  cspViolations: string[];
  attackResults: string[];
}

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-domain-reliability',
  '--no-default-browser-check',
];

/** A large state for the responsiveness test: idle endpoints with a mix of protocols. */
function bigSnapshot(base: StateSnapshot): StateSnapshot {
  const protos = ['http', 'tcp', 'tls'] as const;
  const endpoints: EndpointView[] = [];
  for (let i = 0; i < BIG; i++) {
    const proto = protos[i % 3] as (typeof protos)[number];
    const hostname = `svc-${i}.team-${i % 40}`;
    const port = proto === 'http' ? 80 : proto === 'tcp' ? 5432 : 443;
    endpoints.push({
      id: `ep_${i}`,
      ids: [`ep_${i}`],
      url: `${proto}://${hostname}:${port}`,
      proto,
      hostname,
      ip: `127.150.${Math.floor(i / 250)}.${(i % 250) + 2}`,
      port,
      listen_port: port,
      listening: true,
      bytes_in: i * 10,
      bytes_out: i * 3,
      connections: 0,
      connections_total: i,
      errors: 0,
      last_error: null,
      upgrade_ms_p50: null,
      last_ok_at: null,
      last_ingress_error: null,
    });
  }
  return {
    status: { ...base.status, endpoint_count: BIG, errors: [], last_error: null },
    endpoints,
  };
}

describe('the renderer in Chromium, on browser mode, on the real engine', () => {
  let h: EngineHarness;
  let ui: UiServer;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const pageErrors: string[] = [];

  const shot = async (name: string, target: Page = page): Promise<string> => {
    const path = join(ARTIFACTS, `${name}.png`);
    await target.screenshot({ path });
    return path;
  };
  const endpoint = (hostname: string): EndpointView => {
    const e = h.engine.endpoints().find((x) => x.hostname === hostname);
    assert.ok(e, `endpoint ${hostname} exists`);
    return e;
  };
  const clipboard = (): Promise<string> =>
    page.evaluate(() => (globalThis as unknown as PageGlobals).navigator.clipboard.readText());

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH. These tests never download a browser.`,
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    const staticDir = await ensureRendererBuilt(() => undefined);
    h = await startEngineHarness({
      subnet: SUBNET,
      sim: {
        endpoints: [
          { url: 'http://web.prod' },
          { url: 'http://grafana.monitoring:3000' },
          { url: 'tcp://postgres.db:5432' },
          { url: 'tls://payments.internal:443' },
        ],
      },
    });
    // Onboarding starts from an engine that has no API key.
    await h.engine.stop();
    h.engine = userModeEngine({ ...h.config, apiKey: undefined }, h.hostsPath);
    await h.engine.start();
    ui = await startUiServer({ handlers: h.engine.handlers, feed: h.engine.feed, staticDir });
    userDataDir = mkdtempSync(join(tmpdir(), 'ngrokd-chromium-'));
    // A fresh profile directory per run (Playwright passes it as --user-data-dir).
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 380, height: 560 },
      deviceScaleFactor: 2,
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ui.origin });
    await context.addInitScript(() => {
      const w = globalThis as unknown as PageGlobals;
      w.cspViolations = [];
      w.document.addEventListener('securitypolicyviolation', (e) =>
        w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`),
      );
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      // Chromium logs every non-2xx fetch; a bad subnet (400) and a missing token (401) are provoked.
      if (msg.type() === 'error' && !/Failed to load resource: .* status of 40[01]/.test(msg.text()))
        pageErrors.push(msg.text());
    });
  });

  after(async () => {
    await context?.close();
    await ui?.close();
    await h?.close();
    if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
  });

  test('the API needs a session, refuses foreign Host headers and sends a strict CSP', async () => {
    const invoke = JSON.stringify({ method: 'status', params: {} });
    const json = { 'Content-Type': 'application/json' };
    const anonymous = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: json,
      body: invoke,
    });
    assert.equal(anonymous.status, 401);
    const error = (JSON.parse(anonymous.body) as { error: { code: string; message: string; fix: string } })
      .error;
    assert.equal(error.code, 'UI_TOKEN');
    assert.match(error.message, /no ngrokd UI session/);
    assert.match(error.fix, /press Enter in the terminal running `ngrokd daemon --ui`/);
    const wrong = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: { ...json, Authorization: `Bearer ${'x'.repeat(43)}` },
      body: invoke,
    });
    assert.equal(wrong.status, 401);
    assert.equal((await uiRequest(ui, { path: '/api/events' })).status, 401);
    assert.equal((await exchange(ui, 'wrong')).status, 401);

    const bearer = { ...json, ...(await sessionHeaders(ui)) };
    const ok = await uiRequest(ui, { method: 'POST', path: '/api/invoke', headers: bearer, body: invoke });
    assert.equal(ok.status, 200);
    assert.equal(
      (JSON.parse(ok.body) as { result: { version: string } }).result.version,
      h.engine.status().version,
    );
    assert.equal(ok.headers['access-control-allow-origin'], undefined, 'no CORS');

    const rebinding = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: { ...bearer, Host: `attacker.example:${new URL(ui.origin).port}` },
      body: invoke,
    });
    assert.equal(rebinding.status, 403);
    assert.match(rebinding.body, /DNS rebinding/);
    const crossOrigin = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: { ...bearer, Origin: 'http://attacker.example' },
      body: invoke,
    });
    assert.equal(crossOrigin.status, 403);
    const huge = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: bearer,
      body: JSON.stringify({ method: 'status', params: { pad: 'x'.repeat(100_000) } }),
    });
    assert.equal(huge.status, 413);
    const invalid = await uiRequest(ui, {
      method: 'POST',
      path: '/api/invoke',
      headers: bearer,
      body: JSON.stringify({ method: 'setEnabled', params: { enabled: 'yes' } }),
    });
    assert.equal(invalid.status, 400);
    assert.match(invalid.body, /invalid params for setEnabled/);

    const index = await uiRequest(ui, { path: '/' });
    assert.equal(index.status, 200);
    const csp = String(index.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    assert.doesNotMatch(index.body, /<script>|<style>| style=/, 'no inline script or style in the page');
    assert.equal((await uiRequest(ui, { path: '/../../etc/passwd' })).status, 404);
  });

  test('onboarding: no API key → paste the key → Registered → endpoints appear', async () => {
    await page.goto(ui.url);
    await page.getByRole('heading', { name: 'Connect your ngrok account' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
    assert.deepEqual(await context.cookies(), [], 'and no cookie took its place');
    await shot('onboarding');

    const key = page.getByLabel('ngrok API key');
    await key.fill('wrong_key_0123456789');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.locator('.inline-error').waitFor();
    assert.match(await page.locator('.inline-error').innerText(), /401|rejected|invalid|key/i);
    await shot('onboarding-wrong-key');

    await key.fill(h.sim.apiKey);
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('heading', { name: 'Registered' }).waitFor();
    await page.getByRole('listitem').nth(3).waitFor();
    assert.equal(h.engine.status().registered, true);
  });

  test('endpoints appear with their hostnames, mapped IPs and ports', async () => {
    const rows = page.getByRole('listitem');
    assert.equal(await rows.count(), 4);
    for (const e of h.engine.endpoints()) {
      const row = rows.filter({ hasText: e.hostname });
      const text = await row.innerText();
      assert.ok(
        text.includes(`${e.ip}:${e.listen_port}`),
        `${e.hostname} row shows ${e.ip}:${e.listen_port}: ${text}`,
      );
      assert.ok(e.ip.startsWith('127.140.'), `${e.ip} is in ${SUBNET}`);
      assert.match(text, new RegExp(e.proto, 'i'));
    }
    assert.match(await page.locator('.connection').innerText(), /On · 4 endpoints/);
  });

  test('clicking a hostname copies it and says so; the small buttons copy IP:port and the URL', async () => {
    const web = endpoint('web.prod');
    await page.getByRole('button', { name: 'Copy hostname web.prod' }).click();
    await page.getByText('Copied', { exact: true }).waitFor();
    assert.equal(await clipboard(), 'web.prod');
    assert.equal(await page.getByRole('status').filter({ hasText: 'Copied web.prod' }).count(), 1);
    await shot('copied');

    await page.getByRole('button', { name: `Copy address ${web.ip}:${web.listen_port}` }).click();
    assert.equal(await clipboard(), `${web.ip}:${web.listen_port}`);
    await page.getByRole('button', { name: `Copy URL ${web.url}` }).click();
    assert.equal(await clipboard(), web.url);
  });

  test('keyboard: Tab reaches the list, arrows move between rows, Enter copies', async () => {
    await page.getByLabel('Filter endpoints').focus();
    await page.keyboard.press('Tab');
    const focused = (): Promise<string> =>
      page.evaluate(
        () => (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute('aria-label') ?? '',
      );
    const first = h.engine.endpoints()[0] as EndpointView;
    const second = h.engine.endpoints()[1] as EndpointView;
    // The list is one tab stop: the row used last (web.prod was clicked above).
    assert.equal(await focused(), 'Copy hostname web.prod');
    await page.keyboard.press('Home');
    assert.equal(await focused(), `Copy hostname ${first.hostname}`);
    await page.keyboard.press('ArrowDown');
    assert.equal(await focused(), `Copy hostname ${second.hostname}`);
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      (text) => (globalThis as unknown as PageGlobals).document.body.innerText.includes(`Copied ${text}`),
      second.hostname,
    );
    assert.equal(await clipboard(), second.hostname);
    await page.keyboard.press('End');
    assert.equal(await focused(), `Copy hostname ${h.engine.endpoints().at(-1)?.hostname}`);
  });

  test('traffic through an endpoint shows up as rates and totals (light and dark screenshots)', async () => {
    const web = endpoint('web.prod');
    const grafana = endpoint('grafana.monitoring');
    for (let i = 0; i < 6; i++) {
      await httpRequest(web.ip, web.listen_port, {
        path: `/bytes/${40_000 + i * 9000}`,
        headers: { Host: web.hostname },
      });
      await httpRequest(grafana.ip, grafana.listen_port, {
        path: '/bytes/12000',
        headers: { Host: grafana.hostname },
      });
    }
    await page.waitForFunction(() =>
      /^[1-9][0-9.]* KB\/s$/.test(
        (globalThis as unknown as PageGlobals).document.querySelector('.totals .figure-value')?.textContent ??
          '',
      ),
    );
    const row = await page.getByRole('listitem').filter({ hasText: 'web.prod' }).innerText();
    assert.match(row, /↓ [1-9][0-9.]* KB\/s/);
    await page.mouse.move(0, 0);
    await page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.blur());
    await shot('endpoints-light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot('endpoints-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('an untrusted ingress certificate shows its message and fix in a banner', async () => {
    const grafana = endpoint('grafana.monitoring');
    h.sim.ingress.useUntrustedCert(true);
    try {
      // The dialer keeps a few verified connections warm; the first dial after them meets the new cert.
      let status = 0;
      for (let i = 0; i < 6 && status !== 502; i++)
        status = (await httpRequest(grafana.ip, grafana.listen_port, { headers: { Host: grafana.hostname } }))
          .status;
      assert.equal(status, 502);
      const error = h.engine.status().errors.find((e) => e.code === 'INGRESS_UNTRUSTED');
      assert.ok(error, 'the engine reports INGRESS_UNTRUSTED');
      const banner = page.getByRole('group', { name: 'Binding ingress certificate not trusted' });
      await banner.waitFor();
      await shot('error-banner');
      await banner.getByRole('button', { name: 'Show all' }).click();
      const text = await banner.innerText();
      assert.ok(text.includes(error.message), `banner shows "${error.message}": ${text}`);
      assert.ok(text.includes(error.fix), 'banner shows the fix');
      assert.match(await page.locator('.connection').innerText(), /Needs attention/);
      assert.match(
        await page.getByRole('listitem').filter({ hasText: grafana.hostname }).innerText(),
        /Binding ingress certificate not trusted/,
      );
      await shot('error-banner-expanded');
    } finally {
      h.sim.ingress.useUntrustedCert(false);
    }
    assert.equal(
      (await httpRequest(grafana.ip, grafana.listen_port, { headers: { Host: grafana.hostname } })).status,
      200,
    );
    await page.locator('.banner').waitFor({ state: 'detached' });
  });

  test('the toggle turns ngrokd off (listeners closed) and on again (listeners back)', async () => {
    const before = h.engine.endpoints();
    for (const e of before)
      assert.equal(await canConnect(e.ip, e.listen_port), true, `${e.hostname} listens`);
    const toggle = page.getByRole('switch');
    await toggle.click();
    await page.waitForFunction(
      () =>
        (globalThis as unknown as PageGlobals).document
          .querySelector('[role=switch]')
          ?.getAttribute('aria-checked') === 'false',
    );
    await page.getByText('ngrokd is off, so no local addresses are listening.').waitFor();
    for (const e of before)
      assert.equal(
        await canConnect(e.ip, e.listen_port),
        false,
        `${e.ip}:${e.listen_port} refuses connections when off`,
      );
    await shot('off');
    await page.getByRole('switch').click();
    await page.getByRole('listitem').nth(3).waitFor();
    for (const e of h.engine.endpoints())
      assert.equal(await canConnect(e.ip, e.listen_port), true, `${e.hostname} listens again`);
  });

  test('settings: load, save the poll interval, reject a bad subnet with the reason', async () => {
    await page.getByRole('button', { name: 'Settings' }).click();
    const poll = page.getByLabel('Poll interval');
    await poll.waitFor();
    assert.equal(await poll.inputValue(), String(h.engine.settings().poll_interval));
    assert.equal(
      await page.getByText('Launch at login').count(),
      0,
      'desktop-only toggles hidden in browser mode',
    );
    await poll.fill('45');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved', { exact: true }).waitFor();
    assert.equal(h.engine.settings().poll_interval, 45);
    await shot('settings');

    await page.getByLabel('Subnet').fill('10.0.0.0/33');
    await page.getByRole('button', { name: 'Save' }).click();
    const problem = page.getByRole('alert');
    await problem.waitFor();
    assert.match(await problem.innerText(), /subnet|prefix|10\.0\.0\.0\/33/i);
    assert.equal(h.engine.settings().subnet, h.config.net.subnet);
    await page.getByRole('button', { name: 'Back to endpoints' }).click();
    await page.getByRole('listitem').first().waitFor();
  });

  test('a page on another 127.0.0.1 port gets nowhere: no cookie to carry, and a UI tab it opens has no session', async () => {
    assert.deepEqual(await context.cookies(), [], 'the browser holds nothing other pages could send along');
    const invoke = `${ui.origin}/api/invoke`;
    const setEnabled = JSON.stringify({ method: 'setEnabled', params: { enabled: false } });
    // Another user's page: a button that opens the UI and, in the same click, tries every request a
    // page can make without reading anything from the UI's origin.
    const html = `<!doctype html><title>Win a prize</title><button id="go">Claim</button>
<form id="form" method="POST" action="${invoke}" enctype="text/plain" target="sink">
<input name='{"method":"setEnabled","params":{"enabled":false},"pad":"' value='"}'></form>
<iframe name="sink"></iframe>
<script>
window.attackResults = [];
const body = ${JSON.stringify(setEnabled)};
const attempts = [
  ['no-cors', "${invoke}", { method: 'POST', mode: 'no-cors', credentials: 'include', body: new Blob([body], { type: 'application/json' }) }],
  ['cors', "${invoke}", { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body }],
  ['events', "${ui.origin}/api/events", { credentials: 'include' }],
];
document.getElementById('go').addEventListener('click', async () => {
  window.open("${ui.origin}/", 'ngrokd');
  document.getElementById('form').submit();
  for (const [name, url, init] of attempts) {
    try {
      const res = await fetch(url, init);
      attackResults.push(name + ' ' + res.type + ' ' + res.status);
    } catch (err) {
      attackResults.push(name + ' blocked');
    }
  }
});
</script>`;
    const other = http.createServer((_req, res) =>
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(html),
    );
    await new Promise<void>((done) => other.listen(0, '127.0.0.1', done));
    const foreign = await context.newPage();
    try {
      const before = h.engine.status();
      await foreign.goto(`http://127.0.0.1:${(other.address() as AddressInfo).port}/`);
      const popup = context.waitForEvent('page');
      await foreign.getByRole('button', { name: 'Claim' }).click();
      const opened = await popup;
      await opened.getByRole('heading', { name: 'Open the link from ngrokd' }).waitFor();
      assert.match(await opened.getByRole('alert').innerText(), /no ngrokd UI session/);
      await foreign.waitForFunction(() => (globalThis as unknown as PageGlobals).attackResults?.length === 3);
      const results = await foreign.evaluate(() => (globalThis as unknown as PageGlobals).attackResults);
      // A no-cors answer is opaque, or blocked by Cross-Origin-Resource-Policy; the CORS preflight
      // and the stream are refused outright. Nothing is readable, and nothing was done.
      assert.equal(results.length, 3);
      for (const result of results) assert.match(result, /^[a-z-]+ (blocked|opaque 0)$/);
      await opened.close();
      const after = h.engine.status();
      assert.equal(after.enabled, true, 'ngrokd is still on');
      assert.equal(after.registered, before.registered, 'still registered (no logout)');
      assert.equal(after.operator_id, before.operator_id, 'same registration (no setApiKey)');
      assert.equal(await page.getByRole('switch').getAttribute('aria-checked'), 'true');
    } finally {
      await foreign.close();
      other.closeAllConnections(); // the browser keeps its connections alive
      await new Promise<void>((done) => other.close(() => done()));
    }
  });

  test('the link works once; a reloaded page says how to get a new one, and a new link works', async () => {
    const used = ui.url;
    await page.reload();
    await page.getByRole('heading', { name: 'Open the link from ngrokd' }).waitFor();
    assert.match(await page.getByRole('alert').innerText(), /no ngrokd UI session[\s\S]*press Enter/);
    await shot('no-session');
    await page.goto(used);
    await page.getByText(/already used/).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'a used token is taken out of the address bar too');
    // A new link in the same tab (only the fragment differs) loads the page again and works.
    await page.goto(ui.newLink());
    await page.getByRole('listitem').first().waitFor();
    assert.equal(new URL(page.url()).hash, '');
  });

  test('--open: the browser gets a 0600 file path, follows its redirect to a working UI, and the file is gone', async () => {
    let argv: string[] = [];
    const opened = ui.openBrowser({
      launch: async (command, args) => {
        argv = [command, ...args];
        await page.goto(pathToFileURL(args[0] as string).href);
      },
    });
    await opened.launched;
    await page.getByRole('listitem').first().waitFor();
    assert.equal(new URL(page.url()).origin, ui.origin);
    assert.equal(new URL(page.url()).hash, '');
    assert.deepEqual(argv.slice(1), [opened.file]);
    assert.doesNotMatch(
      argv.join(' '),
      /token|127\.0\.0\.1/,
      'no secret, not even the URL, on the command line',
    );
    assert.equal(existsSync(opened.file), false, 'the redirect file is removed once its link is used');
    assert.equal(linkToken(page.url()), null);
  });

  test('10,000 endpoints: virtualised list, filtering within a frame or two, scrolling', async (t) => {
    const big = bigSnapshot(h.engine.snapshot());
    const bigUi = await startUiServer({
      handlers: h.engine.handlers,
      feed: new StateFeed({ snapshot: () => big }),
      staticDir: join(ROOT, 'renderer', 'dist'),
    });
    const bigPage = await context.newPage();
    try {
      await bigPage.goto(bigUi.url);
      await bigPage.getByRole('listitem').first().waitFor();
      const rendered = await bigPage.getByRole('listitem').count();
      assert.ok(rendered > 5 && rendered < 40, `only the visible rows are in the DOM (${rendered})`);
      assert.equal(await bigPage.getByRole('listitem').first().getAttribute('aria-setsize'), String(BIG));

      const timings = await bigPage.evaluate(async () => {
        const { document, HTMLInputElement, requestAnimationFrame } = globalThis as unknown as PageGlobals;
        const input = document.querySelector('input[type=search]') as PageElement;
        const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set;
        const results: {
          round: number;
          query: string;
          renderMs: number;
          frameMs: number;
          matches: number;
        }[] = [];
        // Three rounds: the first includes the JIT warming up.
        for (let round = 1; round <= 3; round++)
          for (const query of ['s', 'sv', 'svc-1', 'svc-12', 'svc-1234.', 'team-7', 'tcp team', '']) {
            const start = performance.now();
            setValue?.call(input, query);
            input.dispatchEvent(new Event('input', { bubbles: true }));
            // React commits a discrete input event's update before any later microtask: that is the
            // UI's own work. The next painted frame adds style, layout, paint and the wait for vsync.
            await Promise.resolve();
            const rendered = performance.now();
            await new Promise<void>((r) => requestAnimationFrame(() => setTimeout(r, 0)));
            const painted = performance.now();
            const first = document.querySelector('[role=listitem]');
            results.push({
              round,
              query,
              renderMs: Math.round((rendered - start) * 100) / 100,
              frameMs: Math.round((painted - start) * 100) / 100,
              matches: Number(first?.getAttribute('aria-setsize') ?? 0),
            });
          }
        return results;
      });
      const byQuery = new Map(timings.map((r) => [r.query, r]));
      const median = (values: number[]): number =>
        values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
      const renderMedian = median(timings.map((r) => r.renderMs));
      const frameMedian = median(timings.map((r) => r.frameMs));
      assert.equal(byQuery.get('svc-1234.')?.matches, 1);
      assert.equal(byQuery.get('team-7')?.matches, BIG / 40);
      assert.equal(byQuery.get('')?.matches, BIG);

      const scroll = await bigPage.evaluate(async (target) => {
        const { document, requestAnimationFrame } = globalThis as unknown as PageGlobals;
        const viewport = document.querySelector('.list-viewport') as PageElement;
        const start = performance.now();
        viewport.scrollTop = target * 60;
        const want = `svc-${target}.team-${target % 40}`;
        while (!document.body.innerText.includes(want))
          await new Promise<void>((r) => requestAnimationFrame(() => r()));
        return {
          ms: Math.round((performance.now() - start) * 100) / 100,
          rows: document.querySelectorAll('[role=listitem]').length,
        };
      }, 5000);
      assert.ok(scroll.rows < 40, `still only the visible rows after scrolling (${scroll.rows})`);
      await bigPage.getByRole('button', { name: 'Copy hostname svc-5000.team-0' }).waitFor();
      await shot('ten-thousand', bigPage);

      // Keyboard on a long list: End reaches the last endpoint.
      await bigPage.getByRole('button', { name: /^Copy hostname svc-5000\./ }).focus();
      await bigPage.keyboard.press('End');
      assert.equal(
        await bigPage.evaluate(() =>
          (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute('aria-label'),
        ),
        `Copy hostname svc-${BIG - 1}.team-${(BIG - 1) % 40}`,
      );

      const report = { endpoints: BIG, rendered, renderMedian, frameMedian, filter: timings, scroll };
      writeFileSync(join(ARTIFACTS, 'perf-10k.json'), `${JSON.stringify(report, null, 2)}\n`);
      t.diagnostic(
        `10,000 endpoints: ${rendered} rows in the DOM; a filter keystroke takes ${renderMedian} ms to render and ${frameMedian} ms to the next painted frame (medians of ${timings.length}); scroll to row 5000 ${scroll.ms} ms; details in test/artifacts/e2e/perf-10k.json`,
      );
      // A sanity bound only (shared CI machines vary); the numbers themselves are in the artifact.
      for (const r of timings)
        assert.ok(r.frameMs < 1000, `filtering ${JSON.stringify(r.query)} took ${r.frameMs} ms`);
    } finally {
      await bigPage.close();
      await bigUi.close();
    }
  });

  test('no script errors and no CSP violations on the way', async () => {
    const violations = await page.evaluate(() => (globalThis as unknown as PageGlobals).cspViolations);
    assert.deepEqual(violations, []);
    assert.deepEqual(pageErrors, []);
  });
});
