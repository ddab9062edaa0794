/**
 * The control socket: newline-delimited JSON over a Unix socket (mode 0600), versioned, every
 * request validated against the contract by dispatch(). The CLI uses it; the browser UI and
 * Electron IPC carry the same requests over their own transports.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { unlinkSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { listenUnix, socketInUse } from '../system/listen.ts';
import { trustedOwners } from '../system/root-ops.ts';
import { resolveSafePath } from '../system/safe-path.ts';
import { backlogged, DEFAULT_PUMP_LIMITS, RequestPump } from '../system/request-pump.ts';
import {
  CONTROL_PROTOCOL_VERSION,
  DEFAULT_EVENT_INTERVAL_MS,
  type CommandHandlers,
  type ControlResponse,
} from '../common/contract.ts';
import { NgrokdError, toUserFacing } from '../common/errors.ts';
import { dispatch, protocolError, type EventTransport } from './dispatch.ts';
import { FEED_EVENTS, type StateFeed } from './state-feed.ts';

export const MAX_MESSAGE_BYTES = 1 << 20;

/** Split a byte stream into lines, refusing any line longer than the cap. */
export class LineSplitter {
  private pending = '';

  push(chunk: string): string[] {
    this.pending += chunk;
    if (this.pending.length > MAX_MESSAGE_BYTES && !this.pending.includes('\n'))
      throw new NgrokdError(
        'PROTOCOL_ERROR',
        `control message over ${MAX_MESSAGE_BYTES} bytes`,
        'Send smaller requests.',
      );
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    return lines.filter((line) => line.trim() !== '');
  }
}

export interface ControlServer {
  server: Server;
  close(): Promise<void>;
}

/**
 * Serve the control socket at `path` (mode 0600). A directory other users can write is refused (they
 * could swap the socket for their own and answer `status`); requests on one connection are served one
 * at a time with bounded replies (../system/request-pump.ts). `subscribe` subscribes the connection
 * to the state feed: `{"v":1,"event":"state","data":…}` lines (whole snapshots), or with
 * `{"event":"stateUpdate"}` a versioned snapshot as the reply, then `stateUpdate` lines with deltas
 * against the version it has; skipped, not queued, while the subscriber is not reading (the next
 * one carries the latest state, or what changed since the last one read, anyway).
 */
export async function startControlServer(
  path: string,
  handlers: CommandHandlers,
  source: { feed: StateFeed },
): Promise<ControlServer> {
  const { feed } = source;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const socketPath = resolveSafePath(path, {
    what: 'control socket',
    owners: trustedOwners(),
    code: 'CONFIG_INVALID',
    type: 'socket',
  });
  if (await socketInUse(socketPath))
    throw new NgrokdError(
      'CONFIG_INVALID',
      `another ngrokd daemon is already listening on ${path}`,
      'Stop it first, or set server.socket_path to another path.',
    );
  try {
    unlinkSync(socketPath);
  } catch {
    // not there: fine
  }
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setEncoding('utf8');
    const splitter = new LineSplitter();
    let unsubscribe: (() => void) | undefined;
    const send = (msg: ControlResponse): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\n`);
    };
    const events: EventTransport = {
      subscribe: ({ event: name, intervalMs }) => {
        unsubscribe?.(); // a second subscribe replaces the first
        const form = FEED_EVENTS[name];
        const subscription = feed.subscribe({
          minIntervalMs: intervalMs ?? DEFAULT_EVENT_INTERVAL_MS,
          deltas: form.deltas,
          backlogged: () => backlogged(socket),
          send: (event) => {
            if (socket.destroyed) return;
            socket.write(`{"v":${CONTROL_PROTOCOL_VERSION},"event":"${name}","data":${form.json(event)}}\n`);
          },
        });
        unsubscribe = subscription.unsubscribe;
        return form.data(subscription.initial);
      },
    };
    const serve = async (line: string): Promise<void> => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        send({
          v: CONTROL_PROTOCOL_VERSION,
          id: 0,
          error: toUserFacing(protocolError('request is not valid JSON')),
        });
        return;
      }
      send(await dispatch(handlers, parsed, events));
    };
    const hangUp = (err: unknown): void => {
      pump.clear();
      send({ v: CONTROL_PROTOCOL_VERSION, id: 0, error: toUserFacing(err, 'PROTOCOL_ERROR') });
      socket.destroySoon();
    };
    const pump = new RequestPump<string>({
      socket,
      handle: serve,
      onOverflow: (pending) =>
        hangUp(
          new NgrokdError(
            'PROTOCOL_ERROR',
            `${pending} control requests pipelined at once (at most ${DEFAULT_PUMP_LIMITS.maxPending} may wait)`,
            'Send one request at a time and read each reply.',
          ),
        ),
    });
    socket.on('data', (chunk: string) => {
      try {
        pump.push(splitter.push(chunk));
      } catch (err) {
        hangUp(err);
      }
    });
    socket.on('close', () => {
      unsubscribe?.();
      sockets.delete(socket);
    });
    socket.on('error', () => socket.destroy());
  });
  await listenUnix(server, socketPath, 0o600);
  return {
    server,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      try {
        unlinkSync(socketPath);
      } catch {
        // already gone
      }
    },
  };
}
