/**
 * Runs inside `unshare -m -n` with a private copy of /etc (doctor.test.ts): a root daemon, then
 * `ngrokd doctor --json` healthy and with one failure put in place at a time, each undone before
 * the next: a line above ours shadowing a hostname in /etc/hosts, another process listening on our
 * subnet, a route overlapping the subnet (a VPN), an endpoint address removed, the interface down.
 * Prints one JSON line: every report with the CLI's exit code.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DoctorReport, EndpointView } from '../../../main/common/contract.ts';
import { startSimulator } from '../../sim/simulator.ts';
import { assertPrivateEtc, waitForListening, writeDaemonConfig } from '../../support/private-etc.ts';

assertPrivateEtc();
// This namespace's interfaces in /sys/class/net (the doctor reads IFF_UP there).
execFileSync('mount', ['-t', 'sysfs', 'sysfs', '/sys']);

const root = new URL('../../..', import.meta.url).pathname;
const cli = join(root, 'main/cli/ngrokd.ts');
const run = promisify(execFile);
const sim = await startSimulator({
  endpoints: [{ url: 'http://my-api.ngrok.app' }, { url: 'tcp://postgres.db:5432' }],
});
const dir = mkdtempSync(join(tmpdir(), 'ngrokd-doctor-'));
const { config } = writeDaemonConfig(dir, sim);
const { NGROKD_HOSTS_PATH: _, ...env } = process.env;
const daemon = spawn(process.execPath, [cli, 'daemon', '--config', config], {
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let stderr = '';
daemon.stderr.on('data', (c: Buffer) => (stderr += c.toString()));

const ctl = async (...args: string[]): Promise<{ code: number; stdout: string }> =>
  run(process.execPath, [cli, ...args, '--config', config], { env }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code?: number; stdout?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '' }),
  );
const doctor = async (): Promise<{ code: number; report: DoctorReport }> => {
  const { code, stdout } = await ctl('doctor', '--json');
  return { code, report: JSON.parse(stdout) as DoctorReport };
};
const ip = (...args: string[]): Promise<unknown> => run('ip', args);

const results: Record<string, unknown> = {};
try {
  const list: EndpointView[] = await waitForListening(async () => (await ctl('list', '--json')).stdout, 2);
  results.list = list;
  const api = list.find((e) => e.hostname === 'my-api.ngrok.app');
  if (api === undefined) throw new Error(`my-api.ngrok.app not listed: ${JSON.stringify(list)}\n${stderr}`);
  results.healthy = await doctor();

  // A line above the section that shadows our name (first match wins in getaddrinfo's files backend).
  const hosts = readFileSync('/etc/hosts', 'utf8');
  writeFileSync('/etc/hosts', `10.99.0.9 my-api.ngrok.app\n${hosts}`);
  results.shadowed = await doctor();
  writeFileSync('/etc/hosts', readFileSync('/etc/hosts', 'utf8').replace('10.99.0.9 my-api.ngrok.app\n', ''));

  // Another process listening on our gateway address.
  const squatter = spawn(
    process.execPath,
    ['-e', "require('net').createServer().listen(9999, '10.107.0.1', () => console.log('up'))"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((resolve) => squatter.stdout.once('data', resolve));
  results.squatterPid = squatter.pid;
  results.squatted = await doctor();
  squatter.kill('SIGKILL');
  await new Promise((resolve) => squatter.once('exit', resolve));

  // A VPN's route into our subnet.
  await ip('link', 'add', 'vpn0', 'type', 'bridge');
  await ip('link', 'set', 'vpn0', 'up');
  await ip('route', 'add', '10.107.128.0/17', 'dev', 'vpn0');
  results.overlapped = await doctor();
  await ip('link', 'del', 'vpn0');

  // An endpoint address removed behind our back.
  const shown = (await run('ip', ['-o', '-4', 'addr', 'show', 'dev', 'ngrokd0'])).stdout;
  const cidr = new RegExp(`inet (${api.ip.replaceAll('.', '\\.')}/\\d+)`).exec(shown)?.[1];
  if (cidr === undefined) throw new Error(`${api.ip} is not on ngrokd0: ${shown}`);
  await ip('addr', 'del', cidr, 'dev', 'ngrokd0');
  results.addressGone = await doctor();

  // The interface down.
  await ip('link', 'set', 'ngrokd0', 'down');
  results.down = await doctor();
} catch (err) {
  results.error = err instanceof Error ? err.stack : String(err);
} finally {
  daemon.kill('SIGTERM');
  await new Promise((resolve) => daemon.once('exit', resolve));
  await sim.close();
  results.stderr = stderr;
  process.stdout.write(`${JSON.stringify(results)}\n`);
}
