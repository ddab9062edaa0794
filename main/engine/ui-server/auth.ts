/**
 * Browser mode's authentication. It never uses a cookie: cookies ignore ports, so a cookie for
 * 127.0.0.1:PORT would ride along on requests made by a page that any other local user serves on
 * 127.0.0.1:OTHER. The printed link is `http://127.0.0.1:PORT/#token=…` (the fragment never reaches
 * a server). The page takes the token out of the address bar at once and trades it, once, at
 * POST /api/session for a session secret that it keeps only in JavaScript memory and sends as
 * `Authorization: Bearer …` on every /api call and on the event stream. Nothing else authorises
 * /api/*; a reloaded page needs a new link. On top of that, /api/* refuses any foreign Origin or
 * Sec-Fetch-Site (see `foreignRequest`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { UserFacingError } from '../../common/errors.ts';
import { readJson, sendError, sendJson } from './responses.ts';

/** Unused links and live sessions kept at once; the oldest goes first (each is 32 random bytes). */
const MAX_PENDING_LINKS = 8;
const MAX_SESSIONS = 16;

const NEW_LINK_FIX =
  'Open a new link: press Enter in the terminal running `ngrokd daemon --ui` (or `demo --ui`) to print one, or restart it. Each link works once, in one tab.';

/** /api/invoke and /api/events without a live session secret (a reload drops it: it lives in memory only). */
export function sessionError(): UserFacingError {
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

/**
 * One-time link tokens not used yet, and the session secrets they were traded for. Only digests
 * are kept; no secret is ever logged or sent anywhere but in the answer to its owner.
 */
export class UiAuth {
  readonly #links: (SecretEntry & { onUsed?: () => void })[] = [];
  readonly #sessions: SecretEntry[] = [];

  /** A new one-time link token; `onUsed` runs when it is traded for a session. */
  mintLink(onUsed?: () => void): { token: string; revoke(): void } {
    const token = newSecret();
    const entry = { digest: digest(token), ...(onUsed === undefined ? {} : { onUsed }) };
    this.#links.push(entry);
    if (this.#links.length > MAX_PENDING_LINKS) this.#links.shift();
    return { token, revoke: () => remove(this.#links, entry) };
  }

  /** Whether the request carries a live session secret. */
  authorized(req: http.IncomingMessage): boolean {
    return findSecret(this.#sessions, bearer(req)) !== undefined;
  }

  /** POST /api/session {"token": …}: a one-time link token, traded for a session secret. */
  async serveSession(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const parsed = await readJson(req, res, '{"token": …}');
    if (parsed === undefined) return;
    const link = findSecret(this.#links, parsed.token);
    if (link === undefined) {
      sendError(res, 401, linkError());
      return;
    }
    remove(this.#links, link); // used: the same link never works again
    link.onUsed?.();
    const session = newSecret();
    this.#sessions.push({ digest: digest(session) });
    if (this.#sessions.length > MAX_SESSIONS) this.#sessions.shift();
    sendJson(res, 200, { session });
  }

  /** Forget every link and session. */
  clear(): void {
    this.#links.length = 0;
    this.#sessions.length = 0;
  }
}

/**
 * Only the UI page itself may use the API. Browsers name a request's origin (Origin) and how it
 * relates to the target (Sec-Fetch-Site); either one naming anything but this very origin (e.g.
 * a page on another 127.0.0.1 port, which is "same-site") is refused. Clients that send neither
 * (curl, tests) still need the session secret.
 */
export function foreignRequest(
  req: http.IncomingMessage,
  allowedOrigins: ReadonlySet<string>,
): UserFacingError | undefined {
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
}
