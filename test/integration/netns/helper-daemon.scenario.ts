/**
 * Runs as root inside `unshare -m -n` with a private copy of /etc (see helper-daemon.test.ts): the
 * simulator and the privileged helper run as root, the daemon as an unprivileged user that talks to
 * the helper — the desktop app's everyday setup. Prints one JSON line of observations.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSimulator } from '../../sim/simulator.ts';
import type { StatusView } from '../../../main/common/contract.ts';
import { assertPrivateEtc, waitForListening } from '../../support/private-etc.ts';
import { startHelperForUser } from '../../support/helper-process.ts';

assertPrivateEtc();
const USER = 4242;
const root = new URL('../../..', import.meta.url).pathname;
const run = promisify(execFile);

const sim = await startSimulator({ endpoints: [{ url: 'http://my-api.ngrok.app' }] });
const {
  helper,
  helperSocket,
  userDir,
  config,
  log: helperLogOf,
} = await startHelperForUser(USER, sim, 'ngrokd-helper-daemon-');
const hostsBefore = readFileSync('/etc/hosts', 'utf8');

const asUser = ['--reuid', String(USER), '--regid', String(USER), '--clear-groups'];
const env = { PATH: process.env.PATH ?? '', HOME: userDir, NGROKD_HELPER_SOCKET: helperSocket };
const cli = join(root, 'main/cli/ngrokd.ts');
const daemon = spawn('setpriv', [...asUser, process.execPath, cli, 'daemon', '--config', config], {
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let daemonLog = '';
daemon.stderr.on('data', (c: Buffer) => (daemonLog += c.toString()));
const ctl = async (...args: string[]): Promise<string> =>
  (await run('setpriv', [...asUser, process.execPath, cli, ...args, '--config', config], { env })).stdout;

const list = await waitForListening(() => ctl('list', '--json'), 1);
const status = JSON.parse(await ctl('status', '--json')) as StatusView;
const curl = await run('curl', ['-s', '--max-time', '10', 'http://my-api.ngrok.app/']).then(
  (r) => r.stdout,
  (err: Error) => `curl failed: ${err.message}`,
);
const hostsDuring = readFileSync('/etc/hosts', 'utf8');
const listenerOwner = (await run('ss', ['-Hltnp', 'sport = :80'])).stdout;

daemon.kill('SIGTERM');
const exitCode = await new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
const hostsAfter = readFileSync('/etc/hosts', 'utf8');
helper.kill('SIGTERM');
await new Promise((resolve) => helper.once('exit', resolve));
await sim.close();

process.stdout.write(
  `${JSON.stringify({ list, status, curl, hostsBefore, hostsDuring, hostsAfter, listenerOwner, daemonPid: daemon.pid, exitCode, daemonLog, helperLog: helperLogOf() })}\n`,
);
