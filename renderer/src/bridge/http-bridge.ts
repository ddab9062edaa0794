/**
 * Browser mode: commands are POSTed to /api/invoke and state arrives as Server-Sent Events from
 * /api/events. The page's cookie (set when it was opened with ?token=…) authorises both.
 */
import type {
  CommandName,
  CommandParams,
  CommandResult,
  StateSnapshot,
} from '../../../main/common/contract.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import type { NgrokdBridge } from './types.ts';
import { asUserFacing, daemonUnreachable } from './user-facing.ts';

export function createHttpBridge(base = ''): NgrokdBridge {
  const bridge: NgrokdBridge = {
    async invoke<C extends CommandName>(cmd: C, params: CommandParams<C>): Promise<CommandResult<C>> {
      let res: Response;
      try {
        res = await fetch(`${base}/api/invoke`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ method: cmd, params }),
          credentials: 'same-origin',
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
      throw (
        body?.error ?? {
          code: 'API_ERROR',
          message: `the ngrokd daemon answered HTTP ${res.status} to ${cmd}`,
          fix: 'See the ngrokd log for details.',
        }
      );
    },

    subscribe(
      onState: (snapshot: StateSnapshot) => void,
      onConnection?: (problem: UserFacingError | null) => void,
    ) {
      const source = new EventSource(`${base}/api/events`);
      source.addEventListener('state', (event) => {
        onConnection?.(null);
        onState(JSON.parse((event as MessageEvent<string>).data) as StateSnapshot);
      });
      source.addEventListener('error', () => {
        // CONNECTING: the browser retries by itself. CLOSED: the server answered with an HTTP error
        // (a daemon restarted with a new token says 401); ask it why, to show the real reason.
        if (source.readyState !== EventSource.CLOSED) {
          onConnection?.(daemonUnreachable());
          return;
        }
        bridge.invoke('hello', {}).then(
          () => onConnection?.(daemonUnreachable()),
          (err: unknown) => onConnection?.(asUserFacing(err)),
        );
      });
      return () => source.close();
    },
  };
  return bridge;
}
