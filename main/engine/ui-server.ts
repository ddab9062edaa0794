/**
 * Browser mode: serves the built renderer on loopback and bridges it to the engine through the same
 * contract as the control socket (`dispatch`). The page is reachable only with the random token in
 * the printed URL; requests with a foreign Host header are refused (DNS rebinding), nothing is
 * shared cross-origin, and the CSP allows no inline script or style.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTROL_PROTOCOL_VERSION, type CommandHandlers } from '../common/contract.ts';
import { NgrokdError, type UserFacingError } from '../common/errors.ts';
import { dispatch, type Subscribable } from './control-socket.ts';
import { CONTENT_SECURITY_POLICY } from '../common/content-security-policy.ts';

/** Commands are small JSON objects; anything bigger is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_EVENT_INTERVAL_MS = 1000;

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

export interface UiServer {
  /** Open this in a browser: it carries the token, which the page trades for a cookie. */
  url: string;
  origin: string;
  token: string;
  close(): Promise<void>;
}

function tokenError(): UserFacingError {
  return {
    code: 'UI_TOKEN',
    message: 'this request has no valid ngrokd UI token',
    fix: 'Open the URL printed by `ngrokd daemon --ui` (it ends in ?token=…); the token changes on every start.',
  };
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

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
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

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  const staticDir = resolve(options.staticDir);
  const interval = options.eventIntervalMs ?? DEFAULT_EVENT_INTERVAL_MS;
  const token = randomBytes(32).toString('base64url');
  const tokenDigest = digest(token);
  let port = 0;
  let cookieName = '';
  let allowedHosts = new Set<string>();

  /** Constant-time: both sides are hashed to the same length first. */
  const validToken = (candidate: string | undefined): boolean =>
    candidate !== undefined && timingSafeEqual(digest(candidate), tokenDigest);

  const authorized = (req: http.IncomingMessage): boolean => {
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : undefined;
    return validToken(bearer) || validToken(readCookie(req.headers.cookie, cookieName));
  };

  // Server-Sent Events: one timer for every client, one snapshot per tick, sent only when changed.
  const clients = new Map<http.ServerResponse, string>();
  let timer: NodeJS.Timeout | undefined;
  const push = (res: http.ServerResponse, data: string): void => {
    if (clients.get(res) === data) return;
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

  const serveInvoke = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      sendError(res, 415, {
        code: 'PROTOCOL_ERROR',
        message: `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not accepted`,
        fix: 'POST a JSON body {"method": …, "params": {…}} with Content-Type: application/json.',
      });
      return;
    }
    const body = await readBody(req);
    if (body === null) {
      sendError(res, 413, {
        code: 'PROTOCOL_ERROR',
        message: `request body over ${MAX_BODY_BYTES} bytes`,
        fix: 'Send smaller requests.',
      });
      return;
    }
    let parsed: { method?: unknown; params?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      sendError(res, 400, {
        code: 'PROTOCOL_ERROR',
        message: 'request body is not valid JSON',
        fix: 'POST {"method": …, "params": {…}}.',
      });
      return;
    }
    const request = { v: CONTROL_PROTOCOL_VERSION, id: 1, method: parsed?.method, params: parsed?.params };
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
    const offered = url.searchParams.get('token');
    if (offered !== null) {
      if (!validToken(offered)) {
        res.writeHead(401, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`ngrokd: ${tokenError().message}. ${tokenError().fix}\n`);
        return;
      }
      // Trade the token for a cookie and drop it from the address bar (and from history).
      res.writeHead(303, {
        ...SECURITY_HEADERS,
        'Set-Cookie': `${cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`,
        Location: '/',
        'Cache-Control': 'no-store',
      });
      res.end();
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
    if (!authorized(req)) {
      sendError(res, 401, tokenError());
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedHosts.has(origin.replace(/^http:\/\//, ''))) {
      sendError(res, 403, {
        code: 'PROTOCOL_ERROR',
        message: `cross-origin request from ${origin} refused`,
        fix: 'Use the ngrokd UI page itself.',
      });
      return;
    }
    if (url.pathname === '/api/events' && req.method === 'GET') serveEvents(req, res);
    else if (url.pathname === '/api/invoke' && req.method === 'POST')
      serveInvoke(req, res).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : undefined);
      });
    else
      sendError(res, 404, {
        code: 'PROTOCOL_ERROR',
        message: `${req.method ?? ''} ${url.pathname} is not part of the UI API`,
        fix: 'Use POST /api/invoke or GET /api/events.',
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
  // One cookie per port: cookies ignore ports, and two daemons must not overwrite each other's.
  cookieName = `ngrokd_ui_${port}`;
  allowedHosts = new Set([`${host}:${port}`, `localhost:${port}`]);
  const origin = `http://${host}:${port}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    close: async () => {
      clearInterval(timer);
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
  /** Open the URL in the default browser (xdg-open, or open on macOS). */
  open?: boolean;
  write?: (line: string) => void;
}

/** `ngrokd daemon --ui` / `demo --ui`: build the renderer if needed, serve it, print the URL. */
export async function startBrowserUi(
  engine: Subscribable & { handlers: CommandHandlers },
  options: BrowserUiOptions = {},
): Promise<UiServer> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const staticDir = await ensureRendererBuilt();
  const ui = await startUiServer({ handlers: engine.handlers, source: engine, staticDir });
  write(`ngrokd UI: ${ui.url}`);
  if (options.open === true) {
    // execFile, not a shell: the URL is one argument whatever it contains.
    execFile(process.platform === 'darwin' ? 'open' : 'xdg-open', [ui.url], (err) => {
      if (err) write(`ngrokd: could not open a browser (${err.message}); open the URL above yourself.`);
    });
  }
  return ui;
}
