/**
 * Runs inside `unshare -m -n` with a private /etc (second-daemon.test.ts): a root daemon owns
 * ngrokd0, then a second root daemon with the same net.interface_name (its own socket and state)
 * starts. It must be refused naming the first, and the first must keep working untouched.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSimulator } from '../../sim/simulator.ts';
import { assertPrivateEtc, waitForListening, writeDaemonConfig } from '../../support/private-etc.ts';

assertPrivateEtc();
const run = promisify(execFile);
const cli = join(new URL('../../..', import.meta.url).pathname, 'main/cli/ngrokd.ts');
const sim = await startSimulator({ endpoints: [{ url: 'http://my-api.ngrok.app' }] });
const { NGROKD_HOSTS_PATH: _, ...env } = process.env;
const first = writeDaemonConfig(mkdtempSync(join(tmpdir(), 'ngrokd-first-')), sim).config;
const second = writeDaemonConfig(mkdtempSync(join(tmpdir(), 'ngrokd-second-')), sim).config;

const daemon = spawn(process.execPath, [cli, 'daemon', '--config', first], { env, stdio: 'ignore' });
const ctl = async (config: string, ...args: string[]): Promise<string> =>
  (await run(process.execPath, [cli, ...args, '--config', config], { env })).stdout;
await waitForListening(() => ctl(first, 'list', '--json'), 1);
const hostsBefore = readFileSync('/etc/hosts', 'utf8');

const refused = await run(process.execPath, [cli, 'daemon', '--config', second], {
  env,
  timeout: 60_000,
}).then(
  () => ({ code: 0, stderr: '' }),
  (err: { code?: number; stderr?: string }) => ({ code: err.code ?? null, stderr: err.stderr ?? '' }),
);
const curl = (await run('curl', ['-s', '--max-time', '10', 'http://my-api.ngrok.app/'])).stdout;
const listAfter = await ctl(first, 'list', '--json');
const hostsAfter = readFileSync('/etc/hosts', 'utf8');
daemon.kill('SIGTERM');
await new Promise((resolve) => daemon.once('exit', resolve));
await sim.close();
process.stdout.write(
  `${JSON.stringify({ firstPid: daemon.pid, refused, curl, listAfter: JSON.parse(listAfter), hostsBefore, hostsAfter })}\n`,
);
