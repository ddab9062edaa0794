/**
 * Open a listening TCP socket for an endpoint, in the shape the forwarder takes over: paused on
 * accept, half-open allowed, exclusive. Shared by root mode, the helper and user mode.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { NgrokdError } from '../common/errors.ts';
import type { ListenSocket } from '../common/privileged.ts';

function listenError(err: unknown, ip: string, port: number, requested: number): NgrokdError {
  const where = `${ip}:${port}${port === requested ? '' : ` (mapped from port ${requested})`}`;
  if (err instanceof Error && 'code' in err && err.code === 'EADDRINUSE') {
    return new NgrokdError(
      'PORT_IN_USE',
      `${where} is already in use by another program`,
      `Stop the program listening on port ${port} (see \`ss -ltnp 'sport = :${port}'\` or \`lsof -i :${port}\`).`,
      { cause: err },
    );
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new NgrokdError(
    'LISTEN_FAILED',
    `could not listen on ${where}: ${reason}`,
    'See the daemon log for details.',
    {
      cause: err,
    },
  );
}

/** Listen on ip:port; `requested` is the endpoint's own port when user mode mapped it. */
export async function listenTcp(ip: string, port: number, requested: number = port): Promise<ListenSocket> {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw listenError(new Error(`port ${port} is out of range`), ip, port, requested);
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(listenError(err, ip, port, requested));
    server.once('error', onError);
    server.listen({ host: ip, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return { server, port };
}

/**
 * Listen on a Unix socket path created with exactly `mode`: the umask is set around the bind, which
 * Node does synchronously inside listen(), so the file never exists with other permissions and
 * nothing is chmod-ed by path afterwards (a path can be swapped for a symlink; the bind cannot).
 */
export async function listenUnix(server: Server, path: string, mode: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const previous = process.umask(~mode & 0o777);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
}

/** Whether a server answers on the Unix socket `path` (a stale socket file refuses). */
export function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
