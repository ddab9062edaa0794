/**
 * Runs inside `unshare -m -n` with a private /etc (subnet-conflict.test.ts). First the subnet rule
 * itself against the kernel (findSubnetConflict), then a root daemon on the default 10.107.0.0/16:
 * a "VPN" route and then a "Docker" address that overlap it appear while it runs, and go again.
 * Prints one JSON line of observations for the parent to assert on.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusView } from '../../../main/common/contract.ts';
import { findSubnetConflict } from '../../../main/system/linux/interface.ts';
import { startSimulator } from '../../sim/simulator.ts';
import { assertPrivateEtc, waitForListening, writeDaemonConfig } from '../../support/private-etc.ts';
import { curl, pollStatus, run, startRootDaemon } from './root-daemon-process.ts';

assertPrivateEtc();

const ip = async (...args: string[]): Promise<void> => void (await run('ip', args));
await ip('link', 'add', 'vpn0', 'type', 'bridge');
await ip('link', 'set', 'vpn0', 'up');
await ip('link', 'add', 'docker0', 'type', 'bridge');
await ip('link', 'set', 'docker0', 'up');

// --- The rule, read straight from the kernel ----------------------------------------------------
// A default route overlaps everything and is not a conflict; a policy table's route is (Tailscale
// and wg-quick put theirs in table 52 and 51820); the free subnet skips every candidate taken.
await ip('route', 'add', 'default', 'dev', 'vpn0');
await ip('route', 'add', '10.107.0.0/16', 'dev', 'vpn0', 'table', '52');
await ip('addr', 'add', '10.108.3.1/24', 'dev', 'docker0');
const rule = {
  free: findSubnetConflict('10.109.0.0/16', 'ngrokd0'),
  policyTable: findSubnetConflict('10.107.0.0/16', 'ngrokd0'),
  address: findSubnetConflict('10.108.0.0/16', null),
};
await ip('route', 'del', 'default', 'dev', 'vpn0');
await ip('route', 'del', '10.107.0.0/16', 'dev', 'vpn0', 'table', '52');
await ip('addr', 'del', '10.108.3.1/24', 'dev', 'docker0');

// --- A running daemon ---------------------------------------------------------------------------
const sim = await startSimulator({ endpoints: [{ url: 'http://my-api.ngrok.app' }] });
const { config } = writeDaemonConfig(mkdtempSync(join(tmpdir(), 'ngrokd-conflict-')), sim);
const daemon = startRootDaemon(config);
const list = await waitForListening(() => daemon.ctl('list', '--json'), 1);
const conflicts = (s: StatusView) => s.errors.filter((e) => e.code === 'SUBNET_CONFLICT');
const before = await daemon.status();

await ip('route', 'add', '10.107.128.0/17', 'dev', 'vpn0');
const vpn = await pollStatus(daemon, (s) => conflicts(s).length > 0);
const curlDuring = await curl('http://my-api.ngrok.app/');
await ip('route', 'del', '10.107.128.0/17', 'dev', 'vpn0');
const vpnGone = await pollStatus(daemon, (s) => conflicts(s).length === 0);

await ip('addr', 'add', '10.107.200.1/24', 'dev', 'docker0');
const docker = await pollStatus(daemon, (s) => conflicts(s).length > 0);
await ip('addr', 'del', '10.107.200.1/24', 'dev', 'docker0');
const dockerGone = await pollStatus(daemon, (s) => conflicts(s).length === 0);

const exitCode = await daemon.stop();
await sim.close();
process.stdout.write(
  `${JSON.stringify({
    rule,
    list,
    before,
    vpn,
    curlDuring,
    vpnGone,
    docker,
    dockerGone,
    exitCode,
    stderr: daemon.stderr(),
  })}\n`,
);
