/**
 * The app's side of the helper scenario, run as an unprivileged uid (setpriv) by
 * helper-scenario.ts. Prints one JSON line per event on stdout.
 *   serve SOCKET   set up two endpoints through the helper, listen on 10.107.0.2:80 through the
 *                  passed fd and answer every connection with this process's uid; stays running
 *   hello SOCKET   handshake only; prints the helper info or the error
 */
import { createServer } from 'node:net';
import { NgrokdError } from '../../../main/common/errors.ts';
import { HelperClientOps } from '../../../helper/client/helper-client.ts';
import { SCENARIO_HOSTS, SCENARIO_INTERFACE } from './helper-fixture.ts';

function print(event: object): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function errorOf(err: unknown): object {
  return err instanceof NgrokdError ? err.toJSON() : { message: String(err) };
}

/** What binding port 80 directly gives this process (the proof that it is unprivileged). */
async function bindDirectly(host: string, port: number): Promise<string> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port }, () => server.close(() => resolve('listening')));
  });
}

async function serve(socketPath: string): Promise<void> {
  const ops = new HelperClientOps({ appVersion: 'scenario', socketPath, watchIntervalMs: 100 });
  const info = await ops.ensureInterface(SCENARIO_INTERFACE);
  await ops.setAddresses(SCENARIO_HOSTS.map((h) => h.ip));
  const hosts = await ops.setHosts(SCENARIO_HOSTS);
  const direct = await bindDirectly('10.107.0.3', 80);
  const unmanaged = await ops.listen('10.107.0.9', 80).then(
    () => ({ code: 'none' }),
    (err: unknown) => errorOf(err),
  );
  const { server, port } = await ops.listen('10.107.0.2', 80);
  server.on('connection', (socket) => {
    socket.on('error', () => undefined);
    socket.resume();
    socket.end(`served by uid ${process.getuid?.()}\n`);
  });
  print({
    event: 'ready',
    uid: process.getuid?.(),
    helper: ops.helper,
    hostsPath: ops.hostsPath,
    interface: info,
    hostsChanged: hosts.changed,
    port,
    address: server.address(),
    directBind: direct,
    unmanagedListen: unmanaged,
  });
}

async function hello(socketPath: string): Promise<void> {
  const ops = new HelperClientOps({ appVersion: 'scenario', socketPath });
  try {
    print({ event: 'hello', uid: process.getuid?.(), helper: await ops.connect() });
  } catch (err) {
    print({ event: 'hello', uid: process.getuid?.(), error: errorOf(err) });
  } finally {
    ops.close();
  }
}

const [mode, socketPath] = process.argv.slice(2);
if (socketPath === undefined) throw new Error('usage: helper-client.ts serve|hello SOCKET');
if (mode === 'serve') await serve(socketPath);
else await hello(socketPath);
