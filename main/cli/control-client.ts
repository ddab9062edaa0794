/** Client side of the control socket, used by `ngrokd status|list|logout`. */
import { createConnection } from 'node:net';
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
