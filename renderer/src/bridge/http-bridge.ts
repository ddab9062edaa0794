/**
 * Browser mode: commands are POSTed to /api/invoke and state arrives as Server-Sent Events from
 * /api/events. Both are authorised by a session secret that lives only in this module's memory:
 * the link ngrokd prints (`/#token=…`) carries a one-time token, which is taken out of the address
 * bar at once and traded at POST /api/session for the secret, sent as `Authorization: Bearer …` on
 * every request. No cookie exists, so nothing rides along on requests that other pages make (cookies
 * ignore ports: a page on another 127.0.0.1 port would be "same-site"). A reload forgets the secret;
 * the page then says how to get a new link. State comes as `stateUpdate` events: a versioned
 * snapshot, then deltas, turned back into whole snapshots here (main/common/state-delta.ts).
 */
import type {
  CommandName,
  CommandParams,
  CommandResult,
  StateUpdate,
} from '../../../main/common/contract.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import type { NgrokdBridge } from '../../../main/common/bridge.ts';
import { followState } from '../../../main/common/state-delta.ts';
import { asUserFacing, daemonUnreachable } from './user-facing.ts';

const RETRY_MS = 2000;
const LINK_TOKEN = /^#token=([A-Za-z0-9_-]+)$/;

/** A session secret, or why there is none (null and null: the page was opened without a link). */
interface Session {
  secret: string | null;
  error: UserFacingError | null;
}

function httpError(status: number, what: string): UserFacingError {
  return {
    code: 'API_ERROR',
    message: `the ngrokd daemon answered HTTP ${status} to ${what}`,
    fix: 'See the ngrokd log for details.',
  };
}

/**
 * The link's one-time token, removed from the address bar and from this history entry before
 * anything else runs (so it is neither shown, bookmarked, nor seen by the view-from-hash logic).
 */
function takeLinkToken(): string | null {
  const token = LINK_TOKEN.exec(window.location.hash)?.[1] ?? null;
  if (token !== null)
    window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
  return token;
}

async function startSession(base: string, token: string | null): Promise<Session & { retry: boolean }> {
  if (token === null) return { secret: null, error: null, retry: false };
  let res: Response;
  try {
    res = await fetch(`${base}/api/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    return { secret: null, error: daemonUnreachable(), retry: true };
  }
  const body = (await res.json().catch(() => null)) as { session?: unknown; error?: UserFacingError } | null;
  if (res.ok && typeof body?.session === 'string') return { secret: body.session, error: null, retry: false };
  return { secret: null, error: body?.error ?? httpError(res.status, 'the session request'), retry: false };
}

/** Server-Sent Events from a fetch() body: calls `onEvent` for every complete event. */
async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: string, data: string) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice('event:'.length).trim();
        else if (line.startsWith('data:')) data.push(line.slice('data:'.length).replace(/^ /, ''));
      }
      if (data.length > 0) onEvent(event, data.join('\n'));
    }
  }
}

export function createHttpBridge(base = ''): NgrokdBridge {
  const token = takeLinkToken();
  // A new link pasted into this tab changes only the fragment, which loads nothing: load it for real.
  window.addEventListener('hashchange', () => {
    if (LINK_TOKEN.test(window.location.hash)) window.location.reload();
  });

  let pending: Promise<Session> | undefined;
  /** The session, traded for the link token once; retried only if the daemon could not be reached. */
  const session = (): Promise<Session> => {
    pending ??= startSession(base, token).then((s) => {
      if (s.retry) pending = undefined;
      return s;
    });
    return pending;
  };
  const authHeaders = async (): Promise<Record<string, string>> => {
    const s = await session();
    if (s.error !== null) throw s.error;
    return s.secret === null ? {} : { Authorization: `Bearer ${s.secret}` };
  };

  const bridge: NgrokdBridge = {
    async invoke<C extends CommandName>(cmd: C, params: CommandParams<C>): Promise<CommandResult<C>> {
      const auth = await authHeaders();
      let res: Response;
      try {
        res = await fetch(`${base}/api/invoke`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...auth },
          body: JSON.stringify({ method: cmd, params }),
          credentials: 'omit',
          cache: 'no-store',
        });
      } catch {
        throw daemonUnreachable();
      }
      const body = (await res.json().catch(() => null)) as {
        result?: unknown;
        error?: UserFacingError;
      } | null;
      if (res.ok && body !== null && 'result' in body) return body.result as CommandResult<C>;
      throw body?.error ?? httpError(res.status, cmd);
    },

    subscribe: (onState, onConnection) => followState(subscribeUpdates, onState, onConnection),
    subscribeUpdates: (onUpdate, onConnection) => subscribeUpdates(onUpdate, onConnection),
  };

  /**
   * The event stream is read with fetch(), not EventSource: EventSource cannot send headers, so
   * it would need the secret in a cookie (which other local pages' requests carry) or in the URL
   * (which ends up in places that persist). fetch() sends the same Authorization header as
   * /api/invoke; reconnecting after a lost connection is done here, as EventSource would (each
   * stream starts with a snapshot).
   */
  function subscribeUpdates(
    onUpdate: (update: StateUpdate) => void,
    onConnection?: (problem: UserFacingError | null) => void,
  ): () => void {
    const abort = new AbortController();
    const wait = (ms: number): Promise<void> =>
      new Promise((done) => {
        const timer = window.setTimeout(done, ms);
        abort.signal.addEventListener(
          'abort',
          () => {
            window.clearTimeout(timer);
            done();
          },
          { once: true },
        );
      });
    const run = async (): Promise<void> => {
      while (!abort.signal.aborted) {
        let res: Response;
        try {
          res = await fetch(`${base}/api/events?event=stateUpdate`, {
            headers: await authHeaders(),
            credentials: 'omit',
            cache: 'no-store',
            signal: abort.signal,
          });
        } catch (err) {
          if (abort.signal.aborted) return;
          const problem = asUserFacing(err instanceof Error ? daemonUnreachable() : err);
          onConnection?.(problem);
          if (problem.code === 'UI_TOKEN') return; // the link was used up: only a new one helps
          await wait(RETRY_MS);
          continue;
        }
        if (!res.ok || res.body === null) {
          const body = (await res.json().catch(() => null)) as { error?: UserFacingError } | null;
          const problem = body?.error ?? httpError(res.status, 'the event stream');
          onConnection?.(problem);
          // No session (a reload, or ngrokd restarted): retrying cannot help, a new link does.
          if (problem.code === 'UI_TOKEN') return;
          await wait(RETRY_MS);
          continue;
        }
        try {
          await readEventStream(res.body, (event, data) => {
            if (event !== 'stateUpdate') return;
            onConnection?.(null);
            onUpdate(JSON.parse(data) as StateUpdate);
          });
        } catch {
          // the connection broke; reconnect below
        }
        if (abort.signal.aborted) return;
        onConnection?.(daemonUnreachable());
        await wait(RETRY_MS);
      }
    };
    void run();
    return () => abort.abort();
  }
  return bridge;
}
