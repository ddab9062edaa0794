import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildTrayMenu,
  trafficTitle,
  trayMenuKey,
  type MenuTemplateItem,
  type TrayActions,
} from '../../../main/electron/tray-menu.ts';
import { TrayController } from '../../../main/electron/tray.ts';
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

test('the On checkbox shows the state and toggles it', () => {
  const { calls, actions } = recorder();
  const on = find(buildTrayMenu(snapshot([API]), { helperInstalled: true }, actions), /^On$/);
  assert.equal(on.type, 'checkbox');
  assert.equal(on.checked, true);
  click(on);
  const off = find(
    buildTrayMenu(snapshot([], { enabled: false }), { helperInstalled: true }, actions),
    /^On$/,
  );
  assert.equal(off.checked, false);
  click(off);
  assert.deepEqual(calls, ['setEnabled:false', 'setEnabled:true']);
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

test('a current problem shows as "Needs attention" and opens the window', () => {
  const { calls, actions } = recorder();
  const second: typeof PLAN_GATE = { code: 'HELPER_MISSING', message: 'helper missing', fix: 'install it' };
  const items = buildTrayMenu(
    snapshot([], { errors: [PLAN_GATE, second] }),
    { helperInstalled: false },
    actions,
  );
  const problem = find(items, /^Needs attention: /);
  assert.match(problem.label ?? '', /^Needs attention: Kubernetes Operators and Bindings not enabled/);
  assert.match(problem.label ?? '', /\(\+1 more\)$/);
  assert.equal(problem.toolTip, PLAN_GATE.fix);
  click(problem);
  assert.deepEqual(calls, ['open:main']);
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

test('the essentials are always there: window, settings, helper, quit', () => {
  const { calls, actions } = recorder();
  const withHelper = buildTrayMenu(snapshot([]), { helperInstalled: true }, actions);
  click(find(withHelper, /^Open ngrokd$/));
  click(find(withHelper, /^Settings…$/));
  click(find(withHelper, /^Uninstall Helper…$/));
  click(find(withHelper, /^Quit ngrokd$/));
  click(
    find(
      buildTrayMenu(snapshot([], { mode: 'user' }), { helperInstalled: false }, actions),
      /^Install Helper…$/,
    ),
  );
  assert.deepEqual(calls, ['open:main', 'open:settings', 'uninstallHelper', 'quit', 'installHelper']);
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
    snapshot([], { errors: [{ code: 'API_ERROR', message: 'a & b', fix: 'x' }] }),
    { helperInstalled: true },
    actions,
  );
  assert.equal(find(items, /^Needs attention/).label, 'Needs attention: a && b');
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
  assert.notEqual(trayMenuKey(snapshot([API]), { helperInstalled: false }), base);
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
    icons: { on: 'on', off: 'off', attention: 'attention' },
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
    icons: { on: 'on', off: 'off', attention: 'attention' },
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
