/**
 * Runs as root inside `unshare -m -n` with a private copy of /etc (subnet-conflict.test.ts): the
 * privileged helper as root owns ngrokd0 on 10.107.0.0/16, the daemon runs as an unprivileged user.
 * A "VPN" route that comes to overlap the subnet is found by the helper and shown in the user's
 * `status` with the administrator's fix; it clears when the route goes. Started while the route is
 * there, the daemon cannot move the helper's subnet: the start is refused with that fix.
 * Prints one JSON line of observations.
 */
import type { StatusView } from '../../../main/common/contract.ts';
import { startSimulator } from '../../sim/simulator.ts';
import { assertPrivateEtc, waitForListening } from '../../support/private-etc.ts';
import { startHelperForUser } from '../../support/helper-process.ts';
import { pollStatus, run, startDaemonProcess, type DaemonProcess } from './root-daemon-process.ts';

assertPrivateEtc();
const USER = 4242;
const ip = async (...args: string[]): Promise<void> => void (await run('ip', args));
await ip('link', 'add', 'vpn0', 'type', 'bridge');
await ip('link', 'set', 'vpn0', 'up');

const sim = await startSimulator({ endpoints: [{ url: 'http://my-api.ngrok.app' }] });
const {
  helper,
  helperSocket,
  userDir,
  config,
  log: helperLogOf,
} = await startHelperForUser(USER, sim, 'ngrokd-helper-conflict-');

const env = { PATH: process.env.PATH ?? '', HOME: userDir, NGROKD_HELPER_SOCKET: helperSocket };
const startUserDaemon = (): DaemonProcess => startDaemonProcess(config, { uid: USER, env });

const conflicts = (s: StatusView) => s.errors.filter((e) => e.code === 'SUBNET_CONFLICT');
const daemon = startUserDaemon();
const list = await waitForListening(() => daemon.ctl('list', '--json'), 1);
await ip('route', 'add', '10.107.128.0/17', 'dev', 'vpn0');
const vpn = await pollStatus(daemon, (s) => conflicts(s).length > 0);
await ip('route', 'del', '10.107.128.0/17', 'dev', 'vpn0');
const vpnGone = await pollStatus(daemon, (s) => conflicts(s).length === 0);
const exitCode = await daemon.stop();

// The route is there before the daemon starts: the helper's subnet stays, the start is refused.
await ip('route', 'add', '10.107.0.0/16', 'dev', 'vpn0');
const refused = startUserDaemon();
let timer: NodeJS.Timeout | undefined;
const refusedExit = await Promise.race([
  refused.exited,
  new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running after 60 s'), 60_000))),
]);
clearTimeout(timer);
if (typeof refusedExit === 'string') await refused.stop();

helper.kill('SIGTERM');
await new Promise((resolve) => helper.once('exit', resolve));
await sim.close();
process.stdout.write(
  `${JSON.stringify({
    list,
    vpn,
    vpnGone,
    exitCode,
    refused: { exit: refusedExit, stderr: refused.stderr() },
    daemonLog: daemon.stderr(),
    helperLog: helperLogOf(),
  })}\n`,
);
