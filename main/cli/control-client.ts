/**
 * Client side of the control socket, used by `ngrokd status|list|logout`. Before it says anything it
 * checks who answers (SO_PEERCRED / LOCAL_PEERCRED): a socket served by another user is somebody
 * else's daemon, or an impostor waiting for a `logout`, and is not believed.
 */
import { createConnection, type Socket } from 'node:net';
import { peerCredentials } from '../system/peer-credentials.ts';
import { handleFd } from '../system/fd-passing.ts';
import {
  CONTROL_PROTOCOL_VERSION,
  type CommandName,
  type CommandParams,
  type CommandResult,
} from '../common/contract.ts';
import { NgrokdError, type UserFacingError } from '../common/errors.ts';
import { LineSplitter } from '../engine/control-socket.ts';

export async function callDaemon<C extends CommandName>(
  socketPath: string,
  method: C,
  params: CommandParams<C>,
  timeoutMs = 10_000,
): Promise<CommandResult<C>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    socket.setEncoding('utf8');
    const splitter = new LineSplitter();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new NgrokdError(
          'NOT_RUNNING',
          `no answer from ngrokd on ${socketPath} within ${timeoutMs} ms`,
          'Check the daemon log.',
        ),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      const impostor = foreignPeer(socket, socketPath);
      if (impostor !== null) {
        clearTimeout(timer);
        socket.destroy();
        reject(impostor);
        return;
      }
      socket.write(`${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, id: 1, method, params })}\n`);
    });
    socket.on('data', (chunk: string) => {
      for (const line of splitter.push(chunk)) {
        const msg = JSON.parse(line) as { id?: number; result?: unknown; error?: UserFacingError };
        if (msg.id !== 1) continue;
        clearTimeout(timer);
        socket.end();
        if (msg.error !== undefined)
          reject(new NgrokdError(msg.error.code, msg.error.message, msg.error.fix));
        else resolve(msg.result as CommandResult<C>);
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new NgrokdError(
          'NOT_RUNNING',
          `ngrokd is not running (no control socket at ${socketPath}: ${err.code ?? err.message})`,
          'Start it with `npm run ngrokd -- daemon --config FILE`, or pass the same --config/--socket the daemon uses.',
        ),
      );
    });
  });
}

/** An error when the process serving `socket` runs as another user than this one, else null. */
function foreignPeer(socket: Socket, socketPath: string): NgrokdError | null {
  const own = process.geteuid?.();
  if (own === undefined) return null;
  let uid: number;
  try {
    uid = peerCredentials(handleFd(socket)).uid;
  } catch (err) {
    return new NgrokdError(
      'NOT_RUNNING',
      `cannot tell who serves ${socketPath} (${err instanceof Error ? err.message : String(err)}); not trusting it`,
      "Make sure the path is the daemon's control socket (server.socket_path).",
    );
  }
  if (uid === own) return null;
  return new NgrokdError(
    'NOT_RUNNING',
    `the control socket ${socketPath} is served by uid ${uid}, not by you (uid ${own}); not trusting it`,
    `Run the command as the user who runs the daemon, or remove ${socketPath} if it is not ngrokd's, then start the daemon again.`,
  );
}
