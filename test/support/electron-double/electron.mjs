// A recording stand-in for Electron's main-process API, just enough for the bundled app to boot.
// It reports what the app did as JSON lines on stdout ("@@electron-double " prefix), and serves a
// small HTTP bridge on 127.0.0.1 so a real Chromium can load the page through the app's own
// `app://` handler and reach the app's own IPC handlers, as the packaged window would:
//   GET  /…                the app:// protocol handler's answer for app://ngrokd/…
//   POST /__ipc/invoke     {channel, args} → the ipcMain.handle listener's result
//   GET  /__ipc/events     server-sent events: every webContents.send(channel, data)
// Test code only; never bundled.
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { URL } from 'node:url';

const ROOT = process.env.NGROKD_DOUBLE_APP_ROOT;
const USER_DATA = process.env.NGROKD_DOUBLE_USER_DATA;
if (ROOT === undefined || USER_DATA === undefined)
  throw new Error('the Electron double needs NGROKD_DOUBLE_APP_ROOT and NGROKD_DOUBLE_USER_DATA');
mkdirSync(USER_DATA, { recursive: true });

function report(event) {
  process.stdout.write(`@@electron-double ${JSON.stringify(event)}\n`);
}

const protocols = new Map();
let lastMenu = [];
const handlers = new Map();
const pushes = new Set();
let trusted = 'app://ngrokd/index.html';

const webContents = {
  id: 1,
  send(channel, data) {
    const line = `data: ${JSON.stringify({ channel, data })}\n\n`;
    for (const res of pushes) res.write(line);
  },
  isDestroyed: () => false,
  once: () => webContents,
  on: () => webContents,
  setWindowOpenHandler: () => undefined,
  loadURL: (url) => {
    report({ type: 'load-url', url });
    return Promise.resolve();
  },
  getURL: () => trusted,
  session: null,
};

class App extends EventEmitter {
  isPackaged = false;
  dock = undefined;
  requestSingleInstanceLock() {
    report({ type: 'single-instance-lock' });
    return true;
  }
  whenReady() {
    return Promise.resolve();
  }
  getAppPath() {
    return ROOT;
  }
  getPath(name) {
    return join(USER_DATA, name === 'userData' ? '' : name);
  }
  getVersion() {
    return '0.0.0-double';
  }
  setLoginItemSettings() {}
  setAboutPanelOptions() {}
  showAboutPanel() {}
  quit() {
    report({ type: 'quit' });
    process.exit(0);
  }
  exit(code) {
    process.exit(code);
  }
}
export const app = new App();

export const protocol = {
  registerSchemesAsPrivileged(schemes) {
    report({ type: 'schemes', schemes: schemes.map((s) => s.scheme) });
  },
  handle(scheme, handler) {
    protocols.set(scheme, handler);
    report({ type: 'protocol', scheme });
  },
};

const guardedSession = {
  setPermissionRequestHandler() {},
  setPermissionCheckHandler() {},
  webRequest: { onHeadersReceived() {} },
  on() {},
};
export const session = { defaultSession: guardedSession };

export const ipcMain = {
  handle(channel, listener) {
    handlers.set(channel, listener);
    report({ type: 'ipc-handle', channel });
  },
  removeHandler(channel) {
    handlers.delete(channel);
  },
  on() {},
  removeListener() {},
};

export class BrowserWindow extends EventEmitter {
  constructor(options) {
    super();
    this.webContents = webContents;
    report({ type: 'window', preload: options.webPreferences?.preload ?? null, options });
  }
  loadURL(url) {
    trusted = url;
    report({ type: 'load-url', url });
    return Promise.resolve();
  }
  show() {}
  focus() {}
  hide() {}
  isVisible() {
    return true;
  }
  isDestroyed() {
    return false;
  }
  isMinimized() {
    return false;
  }
  restore() {}
  destroy() {}
  close() {}
  setMenuBarVisibility() {}
  removeMenu() {}
  setBounds() {}
  getBounds() {
    return { x: 0, y: 0, width: 440, height: 640 };
  }
}

function labels(template) {
  return template.map((item) =>
    item.type === 'separator'
      ? '---'
      : item.submenu === undefined
        ? (item.label ?? '')
        : { label: item.label ?? '', submenu: labels(item.submenu) },
  );
}

export const Menu = {
  buildFromTemplate: (template) => ({ template }),
  setApplicationMenu() {},
};

export class Tray extends EventEmitter {
  constructor(image) {
    super();
    report({ type: 'tray', image: image.path });
  }
  setContextMenu(menu) {
    lastMenu = menu.template;
    report({ type: 'tray-menu', items: labels(menu.template) });
  }
  setToolTip(text) {
    report({ type: 'tray-tooltip', text });
  }
  setImage(image) {
    report({ type: 'tray-image', image: image.path });
  }
  setTitle() {}
  setIgnoreDoubleClickEvents() {}
}

export const nativeImage = {
  createFromPath: (path) => ({ path, isEmpty: () => false }),
};

export const safeStorage = {
  isEncryptionAvailable: () => true,
  getSelectedStorageBackend: () => 'gnome_libsecret',
  // Reversible and test-only: the double has no keychain.
  encryptString: (text) => Buffer.from(text, 'utf8').reverse(),
  decryptString: (buffer) => Buffer.from(buffer).reverse().toString('utf8'),
};

export const dialog = {
  showMessageBox: async (options) => {
    report({ type: 'dialog', message: options.message });
    return { response: 1 };
  },
  showErrorBox: (title, content) => report({ type: 'error-box', title, content }),
  showOpenDialog: async () => ({ canceled: true, filePaths: [] }),
};

export const shell = { openExternal: async (url) => report({ type: 'open-external', url }) };
export const clipboard = { writeText: (text) => report({ type: 'clipboard', text }) };
export const powerMonitor = new EventEmitter();
export const systemPreferences = { getUserDefault: () => false };
export class Notification extends EventEmitter {
  static isSupported() {
    return false;
  }
  show() {}
}
export const contextBridge = {};
export const ipcRenderer = {};

/** The page's origin stands in for app://ngrokd: map its URL back to the app's. */
function appUrl(path) {
  return `app://ngrokd${path}`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const bridge = createServer(async (req, res) => {
  try {
    const url = new URL(req.url ?? '/', 'http://double');
    if (url.pathname === '/__ipc/invoke' && req.method === 'POST') {
      const { channel, args } = JSON.parse(await readBody(req));
      const listener = handlers.get(channel);
      if (listener === undefined) throw new Error(`no ipcMain handler for ${channel}`);
      const event = { senderFrame: { url: trusted, parent: null }, sender: webContents };
      const result = await listener(event, ...args);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result ?? null));
      return;
    }
    if (url.pathname === '/__double/click' && req.method === 'POST') {
      // A click on a tray menu item, found by its label.
      const label = url.searchParams.get('label');
      const item = lastMenu.find((i) => i.label === label);
      if (item?.click === undefined) throw new Error(`no tray menu item ${label}`);
      item.click();
      res.end('clicked');
      return;
    }
    if (url.pathname === '/__ipc/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(': connected\n\n');
      pushes.add(res);
      req.on('close', () => pushes.delete(res));
      return;
    }
    const handler = protocols.get('app');
    if (handler === undefined) throw new Error('no app:// handler registered');
    const answer = await handler(new globalThis.Request(appUrl(url.pathname)));
    const headers = {};
    answer.headers.forEach((value, key) => (headers[key] = value));
    res.writeHead(answer.status, headers);
    res.end(Buffer.from(await answer.arrayBuffer()));
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err?.stack ?? err));
  }
});
bridge.listen(0, '127.0.0.1', () => report({ type: 'bridge', port: bridge.address().port }));

export default {
  app,
  protocol,
  session,
  ipcMain,
  BrowserWindow,
  Menu,
  Tray,
  nativeImage,
  safeStorage,
  dialog,
  shell,
  clipboard,
  powerMonitor,
  systemPreferences,
  Notification,
};
