/**
 * The shell's security boundary: the renderer is served from our own `app://ngrokd/` origin (not
 * file://, so the file-protocol fuse can stay off and the CSP travels as a real header), it may not
 * navigate or open windows, it gets no permissions except writing the clipboard, and only its top
 * frame may call IPC.
 */
import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import type { BrowserWindowConstructorOptions, Session, WebContents } from 'electron';
import { CONTENT_SECURITY_POLICY } from '../common/content-security-policy.ts';

export { CONTENT_SECURITY_POLICY };

export const APP_SCHEME = 'app';
export const APP_HOST = 'ngrokd';
export const APP_ENTRY_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/** Links the UI may open in the user's browser (error fixes point at the ngrok dashboard and docs). */
const EXTERNAL_HOSTS = new Set(['dashboard.ngrok.com', 'ngrok.com']);

export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
  } catch {
    return false;
  }
}

/** An https link to one of the allowed hosts, without credentials. */
export function isAllowedExternalUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return (
      parsed.protocol === 'https:' &&
      EXTERNAL_HOSTS.has(parsed.hostname) &&
      parsed.port === '' &&
      parsed.username === '' &&
      parsed.password === ''
    );
  } catch {
    return false;
  }
}

/** The frame fields the sender check reads (Electron's WebFrameMain). */
export interface SenderFrame {
  url: string;
  parent: unknown;
}

/** Only the top frame of our own page may talk to main; a destroyed frame (null) may not. */
export function isTrustedSender(frame: SenderFrame | null | undefined): boolean {
  return frame !== null && frame !== undefined && frame.parent === null && isAppUrl(frame.url);
}

/** The renderer's window: isolated, sandboxed, no Node, web security on, no webview, no devtools when packaged. */
export function secureWindowOptions(options: {
  preload: string;
  devTools: boolean;
}): BrowserWindowConstructorOptions {
  return {
    width: 440,
    height: 640,
    minWidth: 360,
    minHeight: 420,
    show: false,
    title: 'ngrokd',
    webPreferences: {
      preload: options.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      experimentalFeatures: false,
      spellcheck: false,
      devTools: options.devTools,
    },
  };
}

export type GuardedContents = Pick<WebContents, 'on' | 'setWindowOpenHandler'>;

/**
 * The page never navigates (it is a single page; in-page hash changes do not fire will-navigate)
 * and never opens windows; an allowed https link goes to the user's browser instead.
 */
export function guardNavigation(contents: GuardedContents, openExternal: (url: string) => unknown): void {
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-frame-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternalUrl(url)) void openExternal(url);
    return { action: 'deny' };
  });
}

/** Permissions the page may use: writing the clipboard (click-to-copy), nothing else. */
const ALLOWED_PERMISSIONS = new Set(['clipboard-sanitized-write']);

export function isPermissionAllowed(permission: string, requestingUrl: string): boolean {
  return ALLOWED_PERMISSIONS.has(permission) && isAppUrl(requestingUrl);
}

export type GuardedSession = Pick<
  Session,
  'setPermissionRequestHandler' | 'setPermissionCheckHandler' | 'webRequest'
>;

/** Deny permissions, and put the CSP on every response the session sees (belt and braces). */
export function guardSession(session: GuardedSession): void {
  session.setPermissionRequestHandler((contents, permission, callback, details) =>
    callback(isPermissionAllowed(permission, details.requestingUrl ?? contents.getURL())),
  );
  session.setPermissionCheckHandler((_contents, permission, requestingOrigin) =>
    isPermissionAllowed(permission, `${requestingOrigin}/`),
  );
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({
      responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] },
    });
  });
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

export interface AssetResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/**
 * Answer an `app://ngrokd/…` request from the renderer's build directory. Paths cannot leave
 * `root`; a path without an extension is a client-side route and gets index.html.
 */
export async function serveAppAsset(root: string, url: string): Promise<AssetResponse> {
  const security = {
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
  const refuse = (status: 400 | 403 | 404): AssetResponse => ({
    status,
    headers: { ...security, 'Content-Type': 'text/plain; charset=utf-8' },
    body: { 400: 'bad request', 403: 'forbidden', 404: 'not found' }[status],
  });
  if (!isAppUrl(url)) return refuse(403);
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(url).pathname);
  } catch {
    return refuse(400);
  }
  if (pathname.includes('\0')) return refuse(400);
  const relativePath = pathname === '/' || extname(pathname) === '' ? 'index.html' : `.${pathname}`;
  const base = resolve(root);
  const file = resolve(base, relativePath);
  const inside = relative(base, file);
  if (inside.startsWith('..') || isAbsolute(inside)) return refuse(403);
  try {
    const body = await readFile(join(base, inside));
    const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    return { status: 200, headers: { ...security, 'Content-Type': type }, body };
  } catch {
    return refuse(404);
  }
}
