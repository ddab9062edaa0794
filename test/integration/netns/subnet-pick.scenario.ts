/**
 * Runs inside `unshare -m -n` with a private /etc (subnet-conflict.test.ts): a "VPN" routes
 * 10.107.0.0/16 before the first start of a root daemon whose config does not set net.subnet.
 * It must pick the next free candidate and serve there; restarted on the same state directory after
 * the VPN is gone, it must keep that subnet and every address. An explicit net.subnet that
 * conflicts is refused with a free subnet in the fix, never replaced.
 * Prints one JSON line of observations for the parent to assert on.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startSimulator } from '../../sim/simulator.ts';
import { assertPrivateEtc, waitForListening, writeDaemonConfig } from '../../support/private-etc.ts';
import { curl, run, startRootDaemon } from './root-daemon-process.ts';

assertPrivateEtc();

const ip = async (...args: string[]): Promise<void> => void (await run('ip', args));
await ip('link', 'add', 'vpn0', 'type', 'bridge');
await ip('link', 'set', 'vpn0', 'up');
await ip('route', 'add', '10.107.0.0/16', 'dev', 'vpn0');

const sim = await startSimulator({
  endpoints: [{ url: 'http://my-api.ngrok.app' }, { url: 'tcp://postgres.db:5432' }],
});
const dir = mkdtempSync(join(tmpdir(), 'ngrokd-pick-'));
const { config } = writeDaemonConfig(dir, sim);

async function serve() {
  const daemon = startRootDaemon(config);
  const list = await waitForListening(() => daemon.ctl('list', '--json'), 2);
  const status = await daemon.status().catch(() => null);
  const body = await curl('http://my-api.ngrok.app/');
  const hosts = readFileSync('/etc/hosts', 'utf8');
  const exitCode = await daemon.stop();
  return { list, status, curl: body, hosts, exitCode, stderr: daemon.stderr() };
}

const first = await serve();
const saved = readFileSync(join(dir, 'state', 'subnet.json'), 'utf8');
await ip('route', 'del', '10.107.0.0/16', 'dev', 'vpn0');
const second = await serve();

// The same conflict with net.subnet set: refused, naming the route and a free subnet.
await ip('route', 'add', '10.107.0.0/16', 'dev', 'vpn0');
const explicitDir = mkdtempSync(join(tmpdir(), 'ngrokd-explicit-'));
const explicitConfig = join(explicitDir, 'config.yml');
const settings = parse(readFileSync(writeDaemonConfig(explicitDir, sim).config, 'utf8')) as object;
writeFileSync(explicitConfig, stringify({ ...settings, net: { subnet: '10.107.0.0/16' } }));
const explicit = startRootDaemon(explicitConfig);
let timer: NodeJS.Timeout | undefined;
const explicitExit = await Promise.race([
  explicit.exited,
  new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running after 60 s'), 60_000))),
]);
clearTimeout(timer);
if (explicitExit === 'still running after 60 s') await explicit.stop();

await sim.close();
process.stdout.write(
  `${JSON.stringify({ first, saved, second, explicit: { exit: explicitExit, stderr: explicit.stderr() } })}\n`,
);
