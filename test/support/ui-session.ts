/** Browser mode's authentication from a test's side: links, sessions, and what a browser tab holds. */
import assert from 'node:assert/strict';
import type { UiServer } from '../../main/engine/ui-server/server.ts';
import { uiRequest, type HttpReply } from './http.ts';

/** The one-time token in a link's fragment (`/#token=…`), or null. */
export function linkToken(link: string): string | null {
  return /^#token=([A-Za-z0-9_-]+)$/.exec(new URL(link).hash)?.[1] ?? null;
}

/** The headers Chromium and Firefox send on a fetch() from the UI page itself. */
export function samePage(ui: UiServer): Record<string, string> {
  return { Origin: ui.origin, 'Sec-Fetch-Site': 'same-origin' };
}

/** POST /api/session as the page does it, with the token of `link`. */
export function exchange(ui: UiServer, token: string | null): Promise<HttpReply> {
  return uiRequest(ui, {
    method: 'POST',
    path: '/api/session',
    headers: { ...samePage(ui), 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  });
}

/** A fresh link traded for a session secret: the Authorization header the page sends. */
export async function sessionHeaders(ui: UiServer): Promise<Record<string, string>> {
  const reply = await exchange(ui, linkToken(ui.newLink()));
  assert.equal(reply.status, 200, reply.body);
  return { Authorization: `Bearer ${(JSON.parse(reply.body) as { session: string }).session}` };
}

export interface OpenedTab {
  /** `name=value` of every cookie the server set on the way (what later same-site requests carry). */
  cookies: string[];
  /** The session secret the page holds in memory (null when there was no token to trade). */
  session: string | null;
}

/**
 * Open a link like a browser does: request its path and query (the fragment stays in the browser),
 * follow redirects keeping every cookie set on the way, load the page, then let the page trade the
 * fragment's token for a session.
 */
export async function openLikeABrowser(ui: UiServer, link: string): Promise<OpenedTab> {
  const cookies: string[] = [];
  let url = new URL(link);
  for (let hop = 0; hop < 5; hop++) {
    const cookie: Record<string, string> = cookies.length === 0 ? {} : { Cookie: cookies.join('; ') };
    const reply = await uiRequest(ui, { path: url.pathname + url.search, headers: cookie });
    for (const set of reply.headers['set-cookie'] ?? []) cookies.push(set.split(';')[0] as string);
    if (reply.status < 300 || reply.status >= 400) {
      assert.equal(reply.status, 200, `the link ${url.pathname} loads the page`);
      break;
    }
    url = new URL(String(reply.headers.location), url);
  }
  const token = linkToken(link);
  if (token === null) return { cookies, session: null };
  const reply = await exchange(ui, token);
  for (const set of reply.headers['set-cookie'] ?? []) cookies.push(set.split(';')[0] as string);
  assert.equal(reply.status, 200, reply.body);
  return { cookies, session: (JSON.parse(reply.body) as { session: string }).session };
}
