/**
 * Browser mode's server: the built renderer on loopback, bridged to the engine through the same
 * contract as the control socket (`dispatch`). Routing and the checks every request passes: a
 * foreign Host header is refused (DNS rebinding), /api/* refuses any foreign Origin or
 * Sec-Fetch-Site and needs a session secret (auth.ts), nothing is shared cross-origin, and the CSP
 * allows no inline script or style. State goes out on the event stream (events.ts), files come
 * from the build (static-files.ts), `--open` hands out a redirect file (open-browser.ts).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resolve } from 'node:path';
import {
  CONTROL_PROTOCOL_VERSION,
  DEFAULT_EVENT_INTERVAL_MS,
  type CommandHandlers,
} from '../../common/contract.ts';
import { dispatch } from '../dispatch.ts';
import type { StateFeed } from '../state-feed.ts';
import { foreignRequest, sessionError, UiAuth } from './auth.ts';
import { EventStreams } from './events.ts';
import { BrowserOpener, type OpenBrowserOptions, type OpenedBrowser } from './open-browser.ts';
import { readJson, sendError, sendJson } from './responses.ts';
import { serveStatic } from './static-files.ts';

export interface UiServerOptions {
  handlers: CommandHandlers;
  /** The engine's state feed; every open event stream subscribes to it. */
  feed: StateFeed;
  /** The built renderer (renderer/dist). */
  staticDir: string;
  host?: '127.0.0.1';
  /** 0 picks a free port. */
  port?: number;
  /** At most one event per this many ms on each stream (and only when the state changed). */
  eventIntervalMs?: number;
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
  openBrowser(options?: OpenBrowserOptions): OpenedBrowser;
  close(): Promise<void>;
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  const staticDir = resolve(options.staticDir);
  let port = 0;
  let origin = '';
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();
  const auth = new UiAuth();
  const mintLink = (onUsed?: () => void): { url: string; revoke(): void } => {
    const { token, revoke } = auth.mintLink(onUsed);
    return { url: `${origin}/#token=${token}`, revoke };
  };
  const opener = new BrowserOpener(mintLink);
  const events = new EventStreams(options.feed, options.eventIntervalMs ?? DEFAULT_EVENT_INTERVAL_MS);

  const serveInvoke = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const parsed = await readJson(req, res, '{"method": …, "params": {…}}');
    if (parsed === undefined) return;
    const request = { v: CONTROL_PROTOCOL_VERSION, id: 1, method: parsed.method, params: parsed.params };
    // No event transport here: state comes on GET /api/events.
    const response = await dispatch(options.handlers, request);
    if ('error' in response)
      sendError(res, response.error.code === 'PROTOCOL_ERROR' ? 400 : 422, response.error);
    else if ('result' in response) sendJson(res, 200, { result: response.result });
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
      serveStatic(staticDir, req, res, url);
      return;
    }
    const foreign = foreignRequest(req, allowedOrigins);
    if (foreign !== undefined) {
      sendError(res, 403, foreign);
      return;
    }
    const fail = (err: unknown): void => {
      res.destroy(err instanceof Error ? err : undefined);
    };
    if (url.pathname === '/api/session' && req.method === 'POST') {
      auth.serveSession(req, res).catch(fail);
      return;
    }
    if (!auth.authorized(req)) {
      sendError(res, 401, sessionError());
      return;
    }
    if (url.pathname === '/api/events' && req.method === 'GET') events.serve(req, res);
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

  return {
    url: mintLink().url,
    origin,
    newLink: () => mintLink().url,
    openBrowser: (opts) => opener.open(opts),
    close: async () => {
      opener.close();
      auth.clear();
      events.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
