/**
 * The built app boots, not only its parts: the bundled main process (out/main/main.js, as
 * electron-builder packs it) runs under the pinned Node with `electron` replaced at the module
 * boundary by a recording double (test/support/electron-double/), against the simulator in user
 * mode. It must take the single-instance lock, build the tray from live engine state, open the
 * window on app:// with the packaged preload file, serve the packaged renderer through its own
 * app:// handler, and that renderer, loaded in Chromium with the real preload bundle's API wired
 * to the app's IPC handlers, must show the endpoints. Broken bundle paths, module formats and
 * preload/renderer contract drift fail here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { ensureRendererBuilt } from '../../main/engine/ui-server/renderer-build.ts';
import { startSimulator, type Simulator } from '../sim/simulator.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REGISTER = fileURLToPath(new URL('../support/electron-double/register.mjs', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const PREFIX = '@@electron-double ';
/** Only a bound on a hang: the assertions are about what happened, not when. */
const CAP_MS = Number(process.env.NGROKD_TEST_CAP_MS ?? 60_000);
const HOSTNAMES = ['web.prod', 'grafana.monitoring', 'postgres.db'];

interface DoubleEvent {
  type: string;
  [key: string]: unknown;
}

let sim: Simulator;
let dir: string;
let app: ChildProcess;
let browser: Browser | null = null;
const events: DoubleEvent[] = [];
let stderr = '';

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + CAP_MS;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (app.exitCode !== null) throw new Error(`the app exited (${app.exitCode}) before ${what}:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const event = (type: string, match: (e: DoubleEvent) => boolean = () => true) =>
  until(`the app's ${type}`, () => events.find((e) => e.type === type && match(e)));

function menuText(items: unknown): string {
  return JSON.stringify(items);
}

before(async () => {
  // From a fresh clone too: the bundles the packaged app runs, built as `npm run dist` builds them.
  await run(process.execPath, [join(ROOT, 'main/electron/build.ts')], { cwd: ROOT });
  await ensureRendererBuilt();
  sim = await startSimulator({
    endpoints: [
      { url: 'http://web.prod' },
      { url: 'http://grafana.monitoring:3000' },
      { url: 'tcp://postgres.db:5432' },
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-bundled-app-'));
  writeFileSync(join(dir, 'ingress-ca.pem'), sim.ingressCaPem);
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(
    join(dir, 'config.yml'),
    [
      'api:',
      `  url: ${sim.apiUrl}`,
      `  key: ${sim.apiKey}`,
      `ingressCA: ${join(dir, 'ingress-ca.pem')}`,
      'server:',
      `  state_dir: ${join(dir, 'state')}`,
      `  socket_path: ${join(dir, 'ngrokd.sock')}`,
      'bound_endpoints:',
      '  poll_interval: 3600',
      'net:',
      '  user_subnet: 127.141.0.0/16',
      '',
    ].join('\n'),
  );
  app = spawn(process.execPath, ['--import', REGISTER, join(ROOT, 'out/main/main.js')], {
    cwd: dir,
    env: {
      ...process.env,
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, 'xdg'),
      NGROKD_USER_MODE: '1',
      NGROKD_CONFIG: join(dir, 'config.yml'),
      NGROKD_HOSTS_PATH: join(dir, 'hosts'),
      NGROKD_TRUST_DIR: join(dir, 'no-trust-dir'),
      NGROKD_DISABLE_UPDATES: '1',
      NGROKD_DOUBLE_APP_ROOT: ROOT,
      NGROKD_DOUBLE_USER_DATA: join(dir, 'user-data'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let pending = '';
  app.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines)
      if (line.startsWith(PREFIX)) events.push(JSON.parse(line.slice(PREFIX.length)) as DoubleEvent);
  });
  app.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
});

after(async () => {
  await browser?.close();
  if (app.exitCode === null) {
    app.kill('SIGKILL');
    await new Promise((resolve) => app.once('exit', resolve));
  }
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the bundled main process boots: lock, tray from live state, window, renderer with the real preload', async () => {
  await event('single-instance-lock');
  const { port } = (await event('bridge')) as unknown as { port: number };
  const origin = `http://127.0.0.1:${port}`;

  // The tray, from live engine state: the simulator's endpoints with their local addresses.
  const menu = await event('tray-menu', (e) => HOSTNAMES.every((h) => menuText(e.items).includes(h)));
  assert.match(menuText(menu.items), /Turn Off/);
  assert.match(menuText(menu.items), /127\.141\.\d+\.\d+:/);
  const tray = await event('tray');
  assert.ok(existsSync(String(tray.image)), `the tray icon ${String(tray.image)} is a packaged file`);

  // Open the window from the tray, as a user would.
  const clicked = await fetch(`${origin}/__double/click?label=${encodeURIComponent('Open ngrokd')}`, {
    method: 'POST',
  });
  assert.equal(clicked.status, 200, await clicked.text());
  const window = await event('window');
  assert.equal(window.preload, join(ROOT, 'out/preload/preload.cjs'));
  assert.ok(existsSync(String(window.preload)), 'the preload file exists where the window looks for it');
  const loaded = await event('load-url');
  assert.equal(loaded.url, 'app://ngrokd/index.html');

  // The app's own app:// handler serves the packaged renderer, with its CSP.
  const index = await fetch(`${origin}/index.html`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.equal(await index.text(), readFileSync(join(ROOT, 'renderer/dist/index.html'), 'utf8'));

  // The renderer in Chromium, with the real preload bundle's API over the app's IPC handlers.
  const preload = readFileSync(String(window.preload), 'utf8');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const consoleLines: string[] = [];
  page.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  await page.addInitScript(`(() => {
    const post = async (channel, args) => {
      const res = await fetch('/__ipc/invoke', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel, args }),
      });
      if (!res.ok) throw new Error(await res.text());
      return res.json();
    };
    const listeners = new Map();
    let source = null;
    const ipcRenderer = {
      invoke: (channel, ...args) => post(channel, args),
      on(channel, listener) {
        if (source === null) {
          source = new EventSource('/__ipc/events');
          source.onmessage = (message) => {
            const { channel: on, data } = JSON.parse(message.data);
            for (const l of listeners.get(on) ?? []) l({}, data);
          };
        }
        if (!listeners.has(channel)) listeners.set(channel, []);
        listeners.get(channel).push(listener);
        return ipcRenderer;
      },
      removeListener() { return ipcRenderer; },
    };
    const contextBridge = { exposeInMainWorld: (key, api) => { window[key] = api; } };
    const require = (name) => {
      if (name === 'electron') return { contextBridge, ipcRenderer };
      throw new Error('the preload may load only electron, not ' + name);
    };
    // As Electron runs a preload: CommonJS, in a function scope of its own.
    const module = { exports: {} };
    new Function('require', 'module', 'exports', ${JSON.stringify(preload)})(require, module, module.exports);
  })();`);
  await page.goto(`${origin}/index.html`);
  try {
    for (const hostname of HOSTNAMES)
      await page.getByText(hostname, { exact: true }).first().waitFor({ timeout: CAP_MS });
  } catch (err) {
    const shown = await page.evaluate(
      () => (globalThis as unknown as { document: { body: { innerText: string } } }).document.body.innerText,
    );
    throw new Error(
      `the endpoints did not show (${String(err)}); the page shows:\n${shown}\nconsole:\n${consoleLines.join('\n')}\nerrors: ${pageErrors.join('\n')}`,
    );
  }
  assert.equal(
    await page.evaluate(() => typeof (globalThis as unknown as { ngrokd?: object }).ngrokd),
    'object',
    'the page talks to main through the preload, not the HTTP bridge',
  );
  assert.deepEqual(pageErrors, []);
  assert.equal(
    events.some((e) => e.type === 'error-box'),
    false,
    `no error dialog: ${JSON.stringify(events)}`,
  );
});
