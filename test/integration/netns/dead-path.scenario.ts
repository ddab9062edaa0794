/**
 * Runs inside `unshare -n` (dead-path.test.ts): a user-mode engine and the simulator in one private
 * network namespace. The path to the ingress (127.0.0.1) is made to die in the kernel, as when a
 * laptop sleeps or loses its network: `ip route replace blackhole 127.0.0.1/32 table local` drops
 * every packet to and from it, with no RST and no FIN, while the endpoint addresses (127.107.x.y)
 * and the local client (bound to 127.0.0.9) keep working. Then the path comes back.
 * Prints one JSON line of observations for the parent to assert on.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSimulator } from '../../sim/simulator.ts';
import { userModeEngine, userModeSetup } from '../../support/user-mode-engine.ts';

const run = promisify(execFile);
const CLIENT_ADDRESS = '127.0.0.9';
/** Only a bound on a hang: the assertions are about what happened, not when. */
const CAP_MS = 90_000;

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + CAP_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Connect to the endpoint, send `ping`, read it back; the socket stays open. */
async function echo(ip: string, port: number): Promise<Socket> {
  const socket = connect({ host: ip, port, localAddress: CLIENT_ADDRESS });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => socket.write('ping'));
    socket.once('data', () => resolve());
    socket.once('close', () => reject(new Error('closed before the echo')));
  });
  return socket;
}

/** How the client's connection ended: its error code, or "end" for a clean FIN. */
function ending(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let how = 'end';
    socket.on('error', (err: NodeJS.ErrnoException) => (how = err.code ?? err.message));
    socket.once('close', () => resolve(how));
    socket.resume();
  });
}

const results: Record<string, unknown> = {};
try {
  await run('ip', ['link', 'set', 'lo', 'up']);
  const sim = await startSimulator({ endpoints: [{ url: 'tcp://echo.prod:5432' }] });
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-dead-path-'));
  const { config, hostsPath } = userModeSetup(dir, sim, {
    subnet: '127.107.0.0/16',
    hostsBefore: '127.0.0.1 localhost\n',
    config: { connections: { keepalive: 1 } },
  });
  const engine = userModeEngine(config, hostsPath);
  await engine.start();
  const view = await until('the endpoint to listen', () => engine.endpoints().find((e) => e.listening));
  const polls = (): number => sim.api.requestLog.filter((r) => r.path.endsWith('/bound_endpoints')).length;

  // An open, idle connection through the tunnel.
  const open = await echo(view.ip, view.listen_port);
  const ended = ending(open);
  const pollsBefore = polls();

  // The path dies.
  await run('ip', ['route', 'replace', 'blackhole', '127.0.0.1/32', 'table', 'local']);
  results.openConnection = await ended;
  results.endpointErrorsWhileDead = engine.endpoints()[0]?.errors;

  // The path comes back: the engine notices and polls the API at once (poll_interval is an hour).
  await run('ip', [
    'route',
    'replace',
    'local',
    '127.0.0.1',
    'dev',
    'lo',
    'table',
    'local',
    'proto',
    'kernel',
    'scope',
    'host',
    'src',
    '127.0.0.1',
  ]);
  await until('a poll after the path came back', () => (polls() > pollsBefore ? true : undefined));
  results.polledAfterChange = true;

  // The first connection after the change works, in one dial: one ConnRequest, no error.
  const requestsBefore = sim.ingress.requests.length;
  const errorsBefore = engine.endpoints()[0]?.errors ?? 0;
  const fresh = await echo(view.ip, view.listen_port);
  results.freshConnection = 'echoed';
  results.connRequestsForFresh = sim.ingress.requests.length - requestsBefore;
  results.newErrors = (engine.endpoints()[0]?.errors ?? 0) - errorsBefore;
  fresh.destroy();
  await engine.stop();
  await sim.close();
} catch (err) {
  results.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
}
process.stdout.write(`${JSON.stringify(results)}\n`);
process.exit(0);
