/**
 * The control socket: newline-delimited JSON over a Unix socket (mode 0600), versioned, every
 * request validated against the contract. The CLI uses it; the browser bridge speaks the same
 * messages over a WebSocket.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { unlinkSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { listenUnix, socketInUse } from '../../helper/listen.ts';
import { trustedOwners } from '../../helper/root-ops.ts';
import { resolveSafePath } from '../../helper/safe-path.ts';
import { backlogged, DEFAULT_PUMP_LIMITS, RequestPump } from '../common/request-pump.ts';
import {
  CONTROL_PROTOCOL_VERSION,
  commands,
  isCommandName,
  type CommandHandlers,
  type ControlResponse,
  type StateSnapshot,
} from '../common/contract.ts';
import { NgrokdError, toUserFacing } from '../common/errors.ts';

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

function protocolError(message: string): NgrokdError {
  return new NgrokdError(
    'PROTOCOL_ERROR',
    message,
    `Send {"v":${CONTROL_PROTOCOL_VERSION},"id":N,"method":M,"params":{}}.`,
  );
}

export interface Subscribable {
  snapshot(): StateSnapshot;
}

/**
 * Validate and run one request. Returns the response, or a subscription request for the caller
 * to service. Shared by every transport.
 */
export async function dispatch(
  handlers: CommandHandlers,
  raw: unknown,
): Promise<{ response: ControlResponse; subscribeMs?: number }> {
  const request = raw as { v?: unknown; id?: unknown; method?: unknown; params?: unknown };
  const id = typeof request?.id === 'number' && Number.isSafeInteger(request.id) ? request.id : 0;
  const v = CONTROL_PROTOCOL_VERSION;
  try {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw protocolError('request is not a JSON object');
    if (request.v !== v)
      throw protocolError(
        `protocol version ${JSON.stringify(request.v)} is not supported (this daemon speaks ${v})`,
      );
    if (typeof request.method !== 'string' || !isCommandName(request.method))
      throw protocolError(
        `unknown method ${JSON.stringify(request.method)} (allowed: ${Object.keys(commands).join(', ')})`,
      );
    const method = request.method;
    const parsed = commands[method].params.safeParse(request.params ?? {});
    if (!parsed.success)
      throw protocolError(
        `invalid params for ${method}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      );
    const handler = handlers[method] as (p: unknown) => unknown;
    const result = await handler(parsed.data);
    if (method === 'subscribe') {
      const params = parsed.data as { intervalMs?: number };
      return { response: { v, id, result }, subscribeMs: params.intervalMs ?? 1000 };
    }
    return { response: { v, id, result } };
  } catch (err) {
    return { response: { v, id, error: toUserFacing(err, 'PROTOCOL_ERROR') } };
  }
}

export interface ControlServer {
  server: Server;
  close(): Promise<void>;
}

/**
 * Serve the control socket at `path` (mode 0600). A directory other users can write is refused (they
 * could swap the socket for their own and answer `status`); requests on one connection are served one
 * at a time with bounded replies (../common/request-pump.ts), and state events are skipped, not
 * queued, while a subscriber is not reading (the next one carries the latest state anyway).
 */
export async function startControlServer(
  path: string,
  handlers: CommandHandlers,
  source: Subscribable,
): Promise<ControlServer> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const socketPath = resolveSafePath(path, {
    what: 'control socket',
    owners: trustedOwners(),
    code: 'CONFIG_INVALID',
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
    let timer: NodeJS.Timeout | undefined;
    const send = (msg: ControlResponse): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\n`);
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
      const { response, subscribeMs } = await dispatch(handlers, parsed);
      send(response);
      if (subscribeMs === undefined) return;
      clearInterval(timer);
      let last = '';
      timer = setInterval(() => {
        if (backlogged(socket)) return;
        const data = JSON.stringify(source.snapshot());
        if (data === last) return;
        last = data;
        socket.write(`{"v":${CONTROL_PROTOCOL_VERSION},"event":"state","data":${data}}\n`);
      }, subscribeMs);
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
      clearInterval(timer);
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
