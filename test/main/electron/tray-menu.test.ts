import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { UpdateState } from '../../../main/common/contract.ts';
import { trayIconFiles } from '../../../main/electron/desktop-app.ts';
import {
  browserUrl,
  buildDisconnectedMenu,
  buildTrayMenu,
  HELP_URL,
  TRAY_ICON_STATES,
  trafficTitle,
  trayIconState,
  trayMenuKey,
  trayToolTip,
  type MenuTemplateItem,
  type TrayActions,
} from '../../../main/electron/tray-menu.ts';
import { STALE_REASON, TrayController } from '../../../main/electron/tray.ts';
import { endpoint, PLAN_GATE, snapshot } from './electron-fixtures.ts';

function recorder() {
  const calls: string[] = [];
  const clipboard: string[] = [];
  const actions: TrayActions = {
    setEnabled: (enabled) => calls.push(`setEnabled:${enabled}`),
    copy: (text) => clipboard.push(text),
    openWindow: (view) => calls.push(`open:${view ?? 'main'}`),
    installHelper: () => calls.push('installHelper'),
    uninstallHelper: () => calls.push('uninstallHelper'),
    quit: () => calls.push('quit'),
  };
  return { calls, clipboard, actions };
}

/** The actions the desktop app gives, every optional item included. */
function fullRecorder() {
  const r = recorder();
  const actions: TrayActions = {
    ...r.actions,
    openUrl: (url) => r.calls.push(`url:${url}`),
    problemAction: (kind) => r.calls.push(`fix:${kind}`),
    restartToUpdate: () => r.calls.push('restartToUpdate'),
    about: () => r.calls.push('about'),
    setEndpoint: (host, enabled) => r.calls.push(`setEndpoint:${host}:${enabled}`),
    copyDiagnostics: () => r.calls.push('copyDiagnostics'),
  };
  return { ...r, actions };
}

const UPDATE_READY: UpdateState = {
  enabled: true,
  managed: false,
  status: 'ready',
  version: '0.2.0',
  message: null,
  checked_at: null,
};

function find(items: MenuTemplateItem[], label: RegExp): MenuTemplateItem {
  const item = items.find((i) => i.label !== undefined && label.test(i.label));
  assert.ok(item, `no menu item matching ${label}; labels: ${items.map((i) => i.label).join(' | ')}`);
  return item;
}

function click(item: MenuTemplateItem): void {
  assert.ok(item.click, `${item.label} is not clickable`);
  item.click();
}

const API = endpoint('my-api.ngrok.app');
const DB = endpoint('postgres.db', {
  proto: 'tcp',
  port: 5432,
  ip: '10.107.0.3',
  url: 'tcp://postgres.db:5432',
});

test('the toggle is labelled by what it does, not a checkbox with a state name', () => {
  const { calls, actions } = recorder();
  const items = buildTrayMenu(snapshot([API]), {}, actions);
  const off = find(items, /^Turn Off$/);
  assert.equal(off.type, undefined, 'a plain item');
  assert.equal(
    items.some((i) => i.type === 'checkbox'),
    false,
  );
  click(off);
  click(find(buildTrayMenu(snapshot([], { enabled: false }), {}, actions), /^Turn On$/));
  assert.deepEqual(calls, ['setEnabled:false', 'setEnabled:true']);
});

test('first run: "Connect ngrok account…" opens the window, and nothing acts on an account', () => {
  const { calls, actions } = fullRecorder();
  const noKey = { code: 'API_KEY_MISSING' as const, message: 'no API key', fix: 'set one' };
  const items = buildTrayMenu(snapshot([], { registered: false, errors: [noKey] }), {}, actions);
  assert.equal(items[0]?.label, 'ngrokd is not connected to an ngrok account');
  assert.equal(items[1]?.label, 'Connect ngrok account…', 'the first thing offered');
  click(find(items, /^Connect ngrok account…$/));
  assert.deepEqual(calls, ['open:main']);
  assert.equal(
    items.some((i) => /^Turn (On|Off)$/.test(i.label ?? '')),
    false,
  );
  assert.equal(
    items.some((i) => /^Needs attention/.test(i.label ?? '')),
    false,
    'said once',
  );
});

test('each endpoint copies its hostname on click and offers hostname, IP:port and URL', () => {
  const { clipboard, actions } = recorder();
  const items = buildTrayMenu(snapshot([API, DB]), { helperInstalled: true }, actions);
  const db = find(items, /^postgres\.db/);
  click(db);
  const sub = db.submenu ?? [];
  assert.equal(sub.length, 3);
  for (const entry of sub) click(entry);
  assert.deepEqual(clipboard, ['postgres.db', 'postgres.db', '10.107.0.3:5432', 'tcp://postgres.db:5432']);
  click(find(items, /^my-api\.ngrok\.app/));
  assert.equal(clipboard.at(-1), 'my-api.ngrok.app');
});

test('IP:port is where to connect locally: the listen port in user mode', () => {
  const { clipboard, actions } = recorder();
  const mapped = endpoint('web.prod', { ip: '127.107.0.2', port: 80, listen_port: 10080 });
  const items = buildTrayMenu(snapshot([mapped], { mode: 'user' }), { helperInstalled: false }, actions);
  click(find(find(items, /^web\.prod/).submenu ?? [], /^Copy IP:port/));
  assert.deepEqual(clipboard, ['127.107.0.2:10080']);
  assert.match(find(items, /^ngrokd is on/).label ?? '', /user mode/);
});

test('a current problem shows its short title, and its fix as a menu item', () => {
  const { calls, actions } = fullRecorder();
  const second: typeof PLAN_GATE = { code: 'HELPER_MISSING', message: 'helper missing', fix: 'install it' };
  const items = buildTrayMenu(snapshot([], { errors: [PLAN_GATE, second] }), {}, actions);
  const problem = find(items, /^Needs attention: /);
  assert.equal(problem.label, 'Needs attention: Kubernetes bindings not enabled for this account (+1 more)');
  assert.doesNotMatch(problem.label ?? '', /ERR_NGROK|19002/, 'codes stay behind Details');
  assert.equal(problem.toolTip, PLAN_GATE.fix);
  click(problem);
  // Right below it, the action the app has for it (tooltips are not shown by most SNI hosts).
  const fix = items[items.indexOf(problem) + 1];
  assert.equal(fix?.label, 'Open ngrok dashboard');
  click(fix ?? {});
  const key = { code: 'API_AUTH' as const, message: 'ngrok rejected the API key (HTTP 401)', fix: 'x' };
  click(find(buildTrayMenu(snapshot([], { errors: [key] }), {}, actions), /^Change API key…$/));
  const helper = { code: 'HELPER_MISSING' as const, message: 'm', fix: 'f' };
  click(find(buildTrayMenu(snapshot([], { errors: [helper] }), {}, actions), /^Install helper…$/));
  assert.deepEqual(calls, ['open:main', 'fix:open-dashboard', 'fix:change-api-key', 'fix:install-helper']);
  assert.equal(
    buildTrayMenu(snapshot([API]), { helperInstalled: true }, actions).some((i) =>
      /^Needs attention/.test(i.label ?? ''),
    ),
    false,
  );
});

test('huge lists are capped with a "N more… (Open window)" item', () => {
  const { calls, actions } = recorder();
  const many = Array.from({ length: 10_000 }, (_, i) => endpoint(`svc-${String(i).padStart(5, '0')}.ns`));
  const items = buildTrayMenu(snapshot(many), { helperInstalled: true }, actions);
  assert.equal(items.filter((i) => /^svc-/.test(i.label ?? '')).length, 25);
  const more = find(items, /^9975 more… \(Open window\)$/);
  click(more);
  assert.deepEqual(calls, ['open:main']);
  assert.ok(items.length < 40);
});

test('the essentials are always there: window, settings, About, Help, Quit; the helper is in Settings', () => {
  const { calls, actions } = fullRecorder();
  const items = buildTrayMenu(snapshot([], { mode: 'user' }), { version: '0.1.0' }, actions);
  click(find(items, /^Open ngrokd$/));
  click(find(items, /^Settings…$/));
  click(find(items, /^About ngrokd 0\.1\.0$/));
  const help = find(items, /^Help$/).submenu ?? [];
  click(find(help, /^Run Diagnostics…$/));
  click(find(help, /^Copy Diagnostics Report$/));
  click(find(help, /^Documentation$/));
  click(find(items, /^Quit ngrokd$/));
  assert.deepEqual(calls, [
    'open:main',
    'open:settings',
    'about',
    'open:diagnostics',
    'copyDiagnostics',
    `url:${HELP_URL}`,
    'quit',
  ]);
  assert.equal(items.at(-1)?.label, 'Quit ngrokd');
  assert.equal(
    items.some((i) => /Helper/i.test(i.label ?? '')),
    false,
    'no helper item next to Quit',
  );
  const off = buildTrayMenu(snapshot([API], { enabled: false }), { helperInstalled: true }, actions);
  assert.equal(
    off.some((i) => /my-api/.test(i.label ?? '')),
    false,
    'no endpoints while off',
  );
  assert.match(find(off, /^ngrokd is off$/).label ?? '', /off/);
});

test('labels escape "&" so it is not taken as a mnemonic', () => {
  const { actions } = recorder();
  const items = buildTrayMenu(
    snapshot([], { warnings: [{ code: 'API_THROTTLED', message: 'a & b', fix: 'x' }] }),
    {},
    actions,
  );
  assert.equal(find(items, /^Warning/).label, 'Warning: a && b');
});

test('each endpoint shows its local IP:port; http ones open in the browser at a URL that works', () => {
  const { calls, clipboard, actions } = fullRecorder();
  const mapped = endpoint('checkout.shop', { ip: '127.107.0.2', port: 80, listen_port: 10080 });
  const tls = endpoint('api.tls', { proto: 'tls', port: 443, url: 'tls://api.tls:443' });
  const items = buildTrayMenu(snapshot([mapped, API, DB, tls], { mode: 'user' }), {}, actions);
  const row = find(items, /^checkout\.shop/);
  assert.equal(row.label, 'checkout.shop  127.107.0.2:10080 (for :80)');
  assert.equal(find(items, /^postgres\.db/).label, 'postgres.db  10.107.0.3:5432');
  click(find(row.submenu ?? [], /^Open in Browser$/));
  click(find(find(items, /^my-api/).submenu ?? [], /^Open in Browser$/));
  click(find(row.submenu ?? [], /^Copy URL/));
  assert.deepEqual(calls, ['url:http://checkout.shop:10080/', 'url:http://my-api.ngrok.app/']);
  assert.deepEqual(clipboard, ['http://checkout.shop:10080/']);
  for (const other of [/^postgres\.db/, /^api\.tls/]) {
    assert.equal(
      (find(items, other).submenu ?? []).some((i) => i.label === 'Open in Browser'),
      false,
      'tcp and tls have no browser URL',
    );
  }
  // Without the hosts file the name does not resolve: the IP does.
  assert.equal(browserUrl(mapped, { hosts_path: null }), 'http://127.107.0.2:10080/');
  assert.equal(
    browserUrl({ ...API, proto: 'https', port: 443, listen_port: 443 }, { hosts_path: '/h' }),
    'https://my-api.ngrok.app/',
  );
  const down = buildTrayMenu(snapshot([{ ...API, listening: false }]), {}, actions);
  assert.match(find(down, /^my-api/).label ?? '', /not listening$/);
  assert.equal(find(find(down, /^my-api/).submenu ?? [], /^Open in Browser$/).enabled, false);
});

test('a downloaded update is offered as "Update available — Restart to update", never forced', () => {
  const { calls, actions } = fullRecorder();
  const items = buildTrayMenu(snapshot([API]), { update: UPDATE_READY }, actions);
  click(find(items, /^Update available — Restart to update \(0\.2\.0\)$/));
  assert.deepEqual(calls, ['restartToUpdate']);
  for (const status of ['idle', 'checking', 'available', 'error', 'disabled'] as const) {
    const none = buildTrayMenu(snapshot([API]), { update: { ...UPDATE_READY, status } }, actions);
    assert.equal(
      none.some((i) => /Update/.test(i.label ?? '')),
      false,
      status,
    );
  }
  const downloading = buildTrayMenu(
    snapshot([API]),
    { update: { ...UPDATE_READY, status: 'downloading' } },
    actions,
  );
  assert.equal(find(downloading, /^Downloading update 0\.2\.0…$/).enabled, false);
  assert.notEqual(trayMenuKey(snapshot([API]), { update: UPDATE_READY }), trayMenuKey(snapshot([API]), {}));
});

test('disconnected: the menu says so, acts on nothing stale, and the icon shows it', () => {
  const { calls, actions } = fullRecorder();
  const items = buildDisconnectedMenu('The engine is restarting', { update: UPDATE_READY }, actions);
  assert.equal(items[0]?.label, 'ngrokd is disconnected');
  assert.equal(items[1]?.label, 'The engine is restarting');
  assert.equal(find(items, /^Turn Off$/).enabled, false, 'the toggle is disabled');
  assert.equal(
    items.some((i) => /my-api|endpoint/.test(i.label ?? '')),
    false,
  );
  click(find(items, /^Restart to update|^Update available/));
  click(find(items, /^Quit ngrokd$/));
  assert.deepEqual(calls, ['restartToUpdate', 'quit']);
});

test('every tray icon state has its image for both platforms, in assets/tray', () => {
  const dir = fileURLToPath(new URL('../../../assets/tray/', import.meta.url));
  for (const platform of ['darwin', 'linux'] as const) {
    const files = trayIconFiles(platform);
    assert.deepEqual(Object.keys(files).sort(), [...TRAY_ICON_STATES].sort());
    assert.equal(new Set(Object.values(files)).size, TRAY_ICON_STATES.length, 'one image per state');
    for (const file of Object.values(files)) {
      assert.ok(existsSync(join(dir, file)), file);
      assert.ok(existsSync(join(dir, file.replace('.png', '@2x.png'))), `${file} @2x`);
    }
  }
  assert.equal(trayIconState(snapshot([API])), 'on');
});

test('the menu key ignores traffic but not what the menu shows', () => {
  const options = { helperInstalled: true };
  const base = trayMenuKey(snapshot([API]), options);
  const busy = snapshot([{ ...API, bytes_in: 123_456, connections: 7 }], {
    totals: { bytes_in: 123_456, bytes_out: 99, connections: 7 },
  });
  assert.equal(trayMenuKey(busy, options), base);
  assert.notEqual(trayMenuKey(snapshot([API, DB]), options), base);
  assert.notEqual(trayMenuKey(snapshot([API], { enabled: false }), options), base);
  assert.notEqual(trayMenuKey(snapshot([{ ...API, listening: false }]), options), base);
  assert.notEqual(trayMenuKey(snapshot([API], { errors: [PLAN_GATE] }), options), base);
  assert.notEqual(trayMenuKey(snapshot([API], { hosts_path: null }), options), base, 'URLs change');
  assert.equal(
    trayMenuKey(snapshot([API]), { helperInstalled: false }),
    base,
    'the helper is not on the menu',
  );
});

test('the tray rebuilds its menu only when it changed, at most once a second', () => {
  let now = 1_000_000;
  const events: string[] = [];
  const { actions } = recorder();
  const tray = new TrayController<MenuTemplateItem[], string>({
    tray: {
      setContextMenu: () => events.push('menu'),
      setToolTip: (t) => events.push(`tip:${t}`),
      setTitle: (t) => events.push(`title:${t}`),
      setImage: (i) => events.push(`icon:${i}`),
    },
    buildMenu: (template) => template,
    icons: { on: 'on', off: 'off', attention: 'attention', disconnected: 'disconnected' },
    actions,
    options: () => ({ helperInstalled: true, trafficTitle: false }),
    now: () => now,
  });
  tray.update(snapshot([API]));
  assert.equal(tray.builds, 1);
  assert.ok(events.includes('icon:on'));
  for (let i = 1; i <= 20; i++) {
    now += 500;
    tray.update(snapshot([{ ...API, bytes_in: i * 1000 }]));
  }
  assert.equal(tray.builds, 1, 'traffic alone never rebuilds the menu');
  now += 100;
  tray.update(snapshot([API, DB]));
  assert.equal(tray.builds, 2);
  now += 100;
  tray.update(snapshot([API]));
  assert.equal(tray.builds, 2, 'a second change within a second waits');
  now += 1000;
  tray.update(snapshot([API]));
  assert.equal(tray.builds, 3, 'the pending change is applied on the next tick');
  tray.update(snapshot([API], { errors: [PLAN_GATE] }));
  assert.equal(events.at(-2), 'icon:attention');
});

test('the tray says Disconnected at once when the state is lost or stale, and comes back', () => {
  let now = 1_000_000;
  const events: string[] = [];
  const menus: MenuTemplateItem[][] = [];
  const { actions } = recorder();
  const tray = new TrayController<MenuTemplateItem[], string>({
    tray: {
      setContextMenu: (menu) => menu !== null && menus.push(menu),
      setToolTip: (t) => events.push(`tip:${t}`),
      setTitle: () => undefined,
      setImage: (i) => events.push(`icon:${i}`),
    },
    buildMenu: (template) => template,
    icons: { on: 'on', off: 'off', attention: 'attention', disconnected: 'disconnected' },
    actions,
    options: () => ({ trafficTitle: false }),
    now: () => now,
    staleMs: 5000,
  });
  tray.update(snapshot([API]));
  now += 100; // well inside the rebuild interval: Disconnected does not wait for it
  tray.lost('The engine is restarting');
  assert.equal(tray.disconnected, true);
  assert.equal(menus.at(-1)?.[0]?.label, 'ngrokd is disconnected');
  assert.equal(events.at(-2), 'icon:disconnected');
  assert.equal(events.at(-1), 'tip:ngrokd is disconnected: The engine is restarting');
  now += 100;
  tray.update(snapshot([API]));
  assert.equal(tray.disconnected, false);
  assert.equal(menus.at(-1)?.[0]?.label, 'ngrokd is on: 1 endpoint', 'back at once too');
  assert.equal(events.at(-2), 'icon:on');
  // No state for longer than staleMs: the last one is no longer claimed.
  now += 4000;
  tray.checkStale();
  assert.equal(tray.disconnected, false);
  now += 2000;
  tray.checkStale();
  assert.equal(tray.disconnected, true);
  assert.equal(menus.at(-1)?.[1]?.label, STALE_REASON);
  assert.match(
    trayToolTip(snapshot([API], { errors: [PLAN_GATE] })),
    /Kubernetes bindings not enabled for this account$/,
  );
});

test('the traffic title shows rates from the totals, and nothing when idle or off', () => {
  assert.equal(trafficTitle(null, { bytes_in: 5, bytes_out: 5, at: 1000 }), '');
  assert.equal(
    trafficTitle({ bytes_in: 0, bytes_out: 0, at: 0 }, { bytes_in: 2_500_000, bytes_out: 40_000, at: 2000 }),
    '↓1.3 MB/s ↑20.0 kB/s',
  );
  assert.equal(
    trafficTitle({ bytes_in: 10, bytes_out: 10, at: 0 }, { bytes_in: 10, bytes_out: 10, at: 1000 }),
    '',
  );
  let now = 0;
  const titles: string[] = [];
  const { actions } = recorder();
  let enabled = true;
  const tray = new TrayController<MenuTemplateItem[], string>({
    tray: {
      setContextMenu: () => undefined,
      setToolTip: () => undefined,
      setTitle: (t) => titles.push(t),
      setImage: () => undefined,
    },
    buildMenu: (t) => t,
    icons: { on: 'on', off: 'off', attention: 'attention', disconnected: 'disconnected' },
    actions,
    options: () => ({ helperInstalled: true, trafficTitle: enabled }),
    now: () => now,
  });
  const at = (bytes: number) =>
    snapshot([API], { totals: { bytes_in: bytes, bytes_out: 0, connections: 1 } });
  tray.update(at(0));
  now = 1000;
  tray.update(at(5000));
  assert.deepEqual(titles, ['↓5.0 kB/s ↑0 B/s']);
  enabled = false;
  now = 2000;
  tray.update(at(9000));
  assert.deepEqual(titles, ['↓5.0 kB/s ↑0 B/s', '']);
});

test('each endpoint has an "On" checkbox that turns it off and on; a turned-off one says so; pins come first, set apart', () => {
  const { calls, actions } = fullRecorder();
  const pinned = { ...endpoint('pinned.prod'), pinned: true };
  const off = { ...endpoint('off.prod'), enabled: false, listening: false };
  const items = buildTrayMenu(snapshot([pinned, endpoint('web.prod'), off]), {}, actions);
  const labels = items.map((i) => (i.type === 'separator' ? '---' : (i.label ?? '')));
  const first = labels.findIndex((l) => l.startsWith('pinned.prod'));
  assert.equal(labels[first + 1], '---', 'a line under the pinned endpoints');
  assert.ok(labels[first + 2]?.startsWith('web.prod'));
  assert.match(find(items, /^off\.prod/).label ?? '', /turned off$/);
  const onItem = (host: RegExp): MenuTemplateItem => find(find(items, host).submenu ?? [], /^On$/);
  assert.equal(onItem(/^web\.prod/).type, 'checkbox');
  assert.equal(onItem(/^web\.prod/).checked, true);
  assert.equal(onItem(/^off\.prod/).checked, false);
  click(onItem(/^web\.prod/));
  click(onItem(/^off\.prod/));
  assert.deepEqual(calls, ['setEndpoint:web.prod:false', 'setEndpoint:off.prod:true']);
  const { actions: minimal } = recorder();
  const plain = buildTrayMenu(snapshot([endpoint('web.prod')]), {}, minimal);
  assert.equal(
    (find(plain, /^web\.prod/).submenu ?? []).some((i) => i.label === 'On'),
    false,
    'only when the shell can do it',
  );
});
