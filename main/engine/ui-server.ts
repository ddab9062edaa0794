/**
 * Browser mode: serves the built renderer on loopback and bridges it to the engine through the same
 * contract as the control socket (`dispatch`).
 *
 * Authentication never uses a cookie: cookies ignore ports, so a cookie for 127.0.0.1:PORT would
 * ride along on requests made by a page that any other local user serves on 127.0.0.1:OTHER. The
 * printed link is `http://127.0.0.1:PORT/#token=…` (the fragment never reaches a server). The page
 * takes the token out of the address bar at once and trades it, once, at POST /api/session for a
 * session secret that it keeps only in JavaScript memory and sends as `Authorization: Bearer …` on
 * every /api call and on the event stream. Nothing else authorises /api/*; a reloaded page needs a
 * new link. `--open` hands the browser a 0600 local file that redirects to the link, so no secret
 * is ever on a command line (/proc/PID/cmdline is readable by every user). On top of that, requests
 * with a foreign Host header are refused (DNS rebinding), /api/* refuses any foreign Origin or
 * Sec-Fetch-Site, nothing is shared cross-origin, and the CSP allows no inline script or style.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTROL_PROTOCOL_VERSION, type CommandHandlers } from '../common/contract.ts';
import { NgrokdError, type UserFacingError } from '../common/errors.ts';
import { dispatch, type Subscribable } from './dispatch.ts';
import { DEFAULT_PUMP_LIMITS } from '../system/request-pump.ts';
import { CONTENT_SECURITY_POLICY } from '../common/content-security-policy.ts';

/** Commands are small JSON objects; anything bigger is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_EVENT_INTERVAL_MS = 1000;
/** How long an unused `--open` redirect file (and its link) lives: long enough for a cold browser start. */
export const OPEN_FILE_TTL_MS = 120_000;
/** Unused links and live sessions kept at once; the oldest goes first (each is 32 random bytes). */
const MAX_PENDING_LINKS = 8;
const MAX_SESSIONS = 16;

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

export interface UiServerOptions {
  handlers: CommandHandlers;
  source: Subscribable;
  /** The built renderer (renderer/dist). */
  staticDir: string;
  host?: '127.0.0.1';
  /** 0 picks a free port. */
  port?: number;
  /** How often state is checked for changes and pushed (at most one event per interval). */
  eventIntervalMs?: number;
}

/** Runs the platform's opener (`xdg-open FILE`, `open FILE`); resolves when it exits successfully. */
export type Launcher = (command: string, args: readonly string[]) => Promise<void>;

export const defaultLauncher: Launcher = (command, args) =>
  new Promise((done, reject) => {
    // execFile, not a shell: the path is one argument whatever it contains.
    execFile(command, [...args], (err) => (err ? reject(err) : done()));
  });

export interface OpenedBrowser {
  /** The 0600 redirect file the browser was given; removed once its link is used, or after the TTL. */
  file: string;
  command: string;
  args: string[];
  /** Settles when the opener exits (rejects when it failed; the file is then removed at once). */
  launched: Promise<void>;
}

export interface UiServer {
  /** The first one-time link, `http://127.0.0.1:PORT/#token=…` (printed by `--ui`). */
  url: string;
  origin: string;
  /** Another one-time link; each can be traded for a session exactly once. */
  newLink(): string;
  /**
   * Open a one-time link in the default browser without putting it on any command line: the
   * opener gets the path of a 0600 file (in a 0700 directory) whose only content is a redirect.
   */
  openBrowser(options?: { launch?: Launcher; ttlMs?: number }): OpenedBrowser;
  close(): Promise<void>;
}

const NEW_LINK_FIX =
  'Open a new link: press Enter in the terminal running `ngrokd daemon --ui` (or `demo --ui`) to print one, or restart it. Each link works once, in one tab.';

/** /api/invoke and /api/events without a live session secret (a reload drops it: it lives in memory only). */
function sessionError(): UserFacingError {
  return {
    code: 'UI_TOKEN',
    message:
      'this browser tab has no ngrokd UI session (the page was reloaded or opened without a fresh link, or ngrokd restarted)',
    fix: NEW_LINK_FIX,
  };
}

/** POST /api/session with a link token that is unknown or already used. */
function linkError(): UserFacingError {
  return {
    code: 'UI_TOKEN',
    message: 'this ngrokd UI link was already used or is not from this ngrokd (each link works once)',
    fix: NEW_LINK_FIX,
  };
}

/** What `--open` gives the browser: a redirect, no script (the URL is only base64url characters anyway). */
function redirectPage(url: string): string {
  const attr = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return [
    '<!doctype html>',
    '<meta charset="utf-8">',
    '<meta name="referrer" content="no-referrer">',
    `<meta http-equiv="refresh" content="0;url=${attr}">`,
    '<title>ngrokd</title>',
    `<p><a href="${attr}">Open the ngrokd UI</a></p>`,
    '',
  ].join('\n');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, error: UserFacingError): void {
  sendJson(res, status, { error });
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

interface SecretEntry {
  digest: Buffer;
}

/**
 * The entry whose secret is `candidate`. Constant-time: both sides are hashed to the same length,
 * and every entry is compared (no early exit), so timing says nothing about any secret.
 */
function findSecret<T extends SecretEntry>(entries: readonly T[], candidate: unknown): T | undefined {
  if (typeof candidate !== 'string' || candidate === '') return undefined;
  const wanted = digest(candidate);
  let found: T | undefined;
  for (const entry of entries)
    if (timingSafeEqual(entry.digest, wanted) && found === undefined) found = entry;
  return found;
}

function remove<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}

function bearer(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : undefined;
}

/** The body as text, or null when it is over the cap (read to the end, so the 413 gets through). */
async function readBody(req: http.IncomingMessage): Promise<string | null> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString('utf8');
}

/**
 * A JSON request body, or undefined after answering with the reason it is not one. Requiring
 * `Content-Type: application/json` means a plain HTML form (or a no-cors fetch) cannot post.
 */
async function readJson(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  shape: string,
): Promise<Record<string, unknown> | undefined> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
    sendError(res, 415, {
      code: 'PROTOCOL_ERROR',
      message: `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not accepted`,
      fix: `POST a JSON body ${shape} with Content-Type: application/json.`,
    });
    return undefined;
  }
  const body = await readBody(req);
  if (body === null) {
    sendError(res, 413, {
      code: 'PROTOCOL_ERROR',
      message: `request body over ${MAX_BODY_BYTES} bytes`,
      fix: 'Send smaller requests.',
    });
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    sendError(res, 400, {
      code: 'PROTOCOL_ERROR',
      message: 'request body is not a JSON object',
      fix: `POST ${shape}.`,
    });
    return undefined;
  }
  return parsed as Record<string, unknown>;
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  const staticDir = resolve(options.staticDir);
  const interval = options.eventIntervalMs ?? DEFAULT_EVENT_INTERVAL_MS;
  let port = 0;
  let origin = '';
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  // One-time link tokens not used yet, and the session secrets they were traded for. Only digests
  // are kept; no secret is ever logged or sent anywhere but in the answer to its owner.
  const links: (SecretEntry & { onUsed?: () => void })[] = [];
  const sessions: SecretEntry[] = [];
  const openFiles = new Set<() => void>();

  const mintLink = (onUsed?: () => void): { url: string; revoke(): void } => {
    const token = newSecret();
    const entry = { digest: digest(token), ...(onUsed === undefined ? {} : { onUsed }) };
    links.push(entry);
    if (links.length > MAX_PENDING_LINKS) links.shift();
    return { url: `${origin}/#token=${token}`, revoke: () => remove(links, entry) };
  };

  const authorized = (req: http.IncomingMessage): boolean => findSecret(sessions, bearer(req)) !== undefined;

  /**
   * Only the UI page itself may use the API. Browsers name a request's origin (Origin) and how it
   * relates to the target (Sec-Fetch-Site); either one naming anything but this very origin (e.g.
   * a page on another 127.0.0.1 port, which is "same-site") is refused. Clients that send neither
   * (curl, tests) still need the session secret.
   */
  const foreignRequest = (req: http.IncomingMessage): UserFacingError | undefined => {
    const from = req.headers.origin;
    if (from !== undefined && !allowedOrigins.has(from))
      return {
        code: 'PROTOCOL_ERROR',
        message: `cross-origin request from ${from} refused`,
        fix: 'Use the ngrokd UI page itself.',
      };
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin')
      return {
        code: 'PROTOCOL_ERROR',
        message: `a ${JSON.stringify(site)} request (Sec-Fetch-Site) is refused: only the UI page itself may call the API`,
        fix: 'Use the ngrokd UI page itself.',
      };
    return undefined;
  };

  // Server-Sent Events: one timer for every client, one snapshot per tick, sent only when changed.
  const clients = new Map<http.ServerResponse, string>();
  let timer: NodeJS.Timeout | undefined;
  const push = (res: http.ServerResponse, data: string): void => {
    // A tab that is not reading (suspended, stuck) is skipped, not queued: the next push that gets
    // through carries the latest state anyway.
    if (clients.get(res) === data || res.writableLength > DEFAULT_PUMP_LIMITS.maxUnreadBytes) return;
    clients.set(res, data);
    res.write(`event: state\ndata: ${data}\n\n`);
  };
  const tick = (): void => {
    const data = JSON.stringify(options.source.snapshot());
    for (const res of clients.keys()) push(res, data);
  };

  const serveEvents = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    clients.set(res, '');
    push(res, JSON.stringify(options.source.snapshot()));
    timer ??= setInterval(tick, interval);
    req.socket.setTimeout(0);
    res.on('close', () => {
      clients.delete(res);
      if (clients.size === 0) {
        clearInterval(timer);
        timer = undefined;
      }
    });
  };

  /** POST /api/session {"token": …}: a one-time link token, traded for a session secret. */
  const serveSession = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const parsed = await readJson(req, res, '{"token": …}');
    if (parsed === undefined) return;
    const link = findSecret(links, parsed.token);
    if (link === undefined) {
      sendError(res, 401, linkError());
      return;
    }
    remove(links, link); // used: the same link never works again
    link.onUsed?.();
    const session = newSecret();
    sessions.push({ digest: digest(session) });
    if (sessions.length > MAX_SESSIONS) sessions.shift();
    sendJson(res, 200, { session });
  };

  const serveInvoke = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const parsed = await readJson(req, res, '{"method": …, "params": {…}}');
    if (parsed === undefined) return;
    const request = { v: CONTROL_PROTOCOL_VERSION, id: 1, method: parsed.method, params: parsed.params };
    const { response } = await dispatch(options.handlers, request);
    if ('error' in response)
      sendError(res, response.error.code === 'PROTOCOL_ERROR' ? 400 : 422, response.error);
    else if ('result' in response) sendJson(res, 200, { result: response.result });
  };

  const serveStatic = (req: http.IncomingMessage, res: http.ServerResponse, url: URL): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, Allow: 'GET, HEAD' }).end();
      return;
    }
    let relative: string;
    try {
      relative = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    } catch {
      relative = ''; // malformed percent-encoding: not a file we have
    }
    const file = normalize(join(staticDir, relative));
    if (!file.startsWith(staticDir + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Not found\n');
      return;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      // Vite puts a content hash in every asset name; index.html must always be fresh.
      'Cache-Control': relative.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  };

  const server = http.createServer((req, res) => {
    if (!allowedHosts.has(req.headers.host ?? '')) {
      sendError(res, 403, {
        code: 'PROTOCOL_ERROR',
        message: `Host ${JSON.stringify(req.headers.host ?? '')} is not this UI server`,
        fix: `Open http://${host}:${port}/ directly (other host names are refused against DNS rebinding).`,
      });
      return;
    }
    const url = new URL(req.url ?? '/', `http://${host}:${port}`);
    if (!url.pathname.startsWith('/api/')) {
      serveStatic(req, res, url);
      return;
    }
    const foreign = foreignRequest(req);
    if (foreign !== undefined) {
      sendError(res, 403, foreign);
      return;
    }
    const fail = (err: unknown): void => {
      res.destroy(err instanceof Error ? err : undefined);
    };
    if (url.pathname === '/api/session' && req.method === 'POST') {
      serveSession(req, res).catch(fail);
      return;
    }
    if (!authorized(req)) {
      sendError(res, 401, sessionError());
      return;
    }
    if (url.pathname === '/api/events' && req.method === 'GET') serveEvents(req, res);
    else if (url.pathname === '/api/invoke' && req.method === 'POST') serveInvoke(req, res).catch(fail);
    else
      sendError(res, 404, {
        code: 'PROTOCOL_ERROR',
        message: `${req.method ?? ''} ${url.pathname} is not part of the UI API`,
        fix: 'Use POST /api/session, POST /api/invoke or GET /api/events.',
      });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolveListen());
  });
  port = (server.address() as AddressInfo).port;
  allowedHosts = new Set([`${host}:${port}`, `localhost:${port}`]);
  allowedOrigins = new Set([...allowedHosts].map((h) => `http://${h}`));
  origin = `http://${host}:${port}`;

  const openBrowser = (opts: { launch?: Launcher; ttlMs?: number } = {}): OpenedBrowser => {
    // mkdtemp makes the directory 0700; the file is 0600 and created exclusively (no symlink games).
    const dir = mkdtempSync(join(tmpdir(), 'ngrokd-open-'));
    const file = join(dir, 'ngrokd-ui.html');
    const link = mintLink(cleanup); // used → the file has served its purpose
    const expiry = setTimeout(cleanup, opts.ttlMs ?? OPEN_FILE_TTL_MS);
    expiry.unref();
    openFiles.add(cleanup);
    function cleanup(): void {
      clearTimeout(expiry);
      link.revoke();
      rmSync(dir, { recursive: true, force: true });
      openFiles.delete(cleanup);
    }
    try {
      writeFileSync(file, redirectPage(link.url), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      cleanup();
      throw err;
    }
    const command = process.platform === 'darwin' ? 'open' : 'xdg-open';
    const args = [file];
    const launched = Promise.resolve()
      .then(() => (opts.launch ?? defaultLauncher)(command, args))
      .catch((err: unknown) => {
        cleanup();
        throw err;
      });
    return { file, command, args: [...args], launched };
  };

  return {
    url: mintLink().url,
    origin,
    newLink: () => mintLink().url,
    openBrowser,
    close: async () => {
      clearInterval(timer);
      for (const cleanup of [...openFiles]) cleanup();
      links.length = 0;
      sessions.length = 0;
      for (const res of clients.keys()) res.end();
      clients.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

// ---- building the renderer on demand -----------------------------------------------------------

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RENDERER_DIST = join(REPO_ROOT, 'renderer', 'dist');

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Whether renderer/dist is missing or older than anything it is built from. */
export function rendererIsStale(root = REPO_ROOT): boolean {
  const built = join(root, 'renderer', 'dist', 'index.html');
  if (!existsSync(built)) return true;
  const sources = ['renderer/src', 'renderer/public', 'renderer/index.html', 'renderer/vite.config.ts']
    .map((p) => join(root, p))
    .filter((p) => existsSync(p));
  return Math.max(...sources.map(newestMtime)) > statSync(built).mtimeMs;
}

/**
 * Build the renderer with Vite when renderer/dist is missing or stale (a checkout without
 * `npm ci`, or edited sources), so `--ui` always serves what the sources say. Returns the dist dir.
 */
export async function ensureRendererBuilt(
  report: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  root = REPO_ROOT,
): Promise<string> {
  const dist = join(root, 'renderer', 'dist');
  if (!rendererIsStale(root)) return dist;
  const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  if (!existsSync(vite))
    throw new NgrokdError(
      'CONFIG_INVALID',
      `the UI is not built (${dist} is missing or stale) and Vite is not installed at ${vite}`,
      'Run `npm ci` (with dev dependencies), then `npm run build:renderer`.',
    );
  report(
    'ngrokd: building the UI (renderer/dist is missing or older than renderer/src); this takes a few seconds…',
  );
  const output: Buffer[] = [];
  const code = await new Promise<number | null>((done, reject) => {
    const child = spawn(
      process.execPath,
      [vite, 'build', '--config', join(root, 'renderer', 'vite.config.ts'), '--logLevel', 'warn'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.once('error', reject);
    child.once('exit', done);
  });
  if (code !== 0 || !existsSync(join(dist, 'index.html')))
    throw new NgrokdError(
      'CONFIG_INVALID',
      `building the UI failed (vite exited with ${code}): ${Buffer.concat(output).toString('utf8').trim().slice(-2000)}`,
      'Fix the error above, or run `npm run build:renderer` to see the full output.',
    );
  return dist;
}

// ---- `--ui` ------------------------------------------------------------------------------------

export interface BrowserUiOptions {
  /** Open a link in the default browser (xdg-open, or open on macOS), through a 0600 redirect file. */
  open?: boolean;
  write?: (line: string) => void;
  /** How `--open` runs the opener (tests capture its argv). */
  launch?: Launcher;
  /** A line on this stream (Enter) prints a new one-time link; default: stdin when it is a terminal. */
  input?: NodeJS.ReadableStream | null;
  /** Serve this build instead of building renderer/dist (tests). */
  staticDir?: string;
}

/** `ngrokd daemon --ui` / `demo --ui`: build the renderer if needed, serve it, print a one-time link. */
export async function startBrowserUi(
  engine: Subscribable & { handlers: CommandHandlers },
  options: BrowserUiOptions = {},
): Promise<UiServer> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const input = options.input === undefined ? (process.stdin.isTTY ? process.stdin : null) : options.input;
  const staticDir = options.staticDir ?? (await ensureRendererBuilt());
  const ui = await startUiServer({ handlers: engine.handlers, source: engine, staticDir });
  write(`ngrokd UI: ${ui.url}`);
  write(
    input === null
      ? 'ngrokd UI: the link works once, in one tab (a reload needs a new link: restart ngrokd for one).'
      : 'ngrokd UI: the link works once, in one tab; press Enter here to print a new one (e.g. after a reload).',
  );
  if (options.open === true) {
    const opened = ui.openBrowser(options.launch === undefined ? {} : { launch: options.launch });
    opened.launched.catch((err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      write(`ngrokd: could not open a browser (${reason}); open the link above yourself.`);
    });
  }
  if (input === null) return ui;
  const onLine = (): void => write(`ngrokd UI: ${ui.newLink()}`);
  input.on('data', onLine);
  return {
    ...ui,
    close: async () => {
      input.off('data', onLine);
      input.pause();
      await ui.close();
    },
  };
}
