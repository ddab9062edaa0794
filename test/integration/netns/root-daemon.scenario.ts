/**
 * Runs inside `unshare -m -n` with a private copy of /etc bind-mounted over /etc (see
 * root-daemon.test.ts): the simulator, then the daemon as root with no --user-mode and no
 * NGROKD_HOSTS_PATH — exactly `sudo npm run ngrokd -- daemon --config FILE` — then curl by name.
 * Prints one JSON line of observations for the parent to assert on.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../sim/simulator.ts';
import type { StatusView } from '../../../main/common/contract.ts';
import { assertPrivateEtc, waitForListening, writeDaemonConfig } from '../../support/private-etc.ts';

assertPrivateEtc();

const root = new URL('../../..', import.meta.url).pathname;
const cli = join(root, 'main/cli/ngrokd.ts');
const sim = await startSimulator({
  endpoints: [{ url: 'http://my-api.ngrok.app' }, { url: 'tcp://postgres.db:5432' }],
});
const dir = mkdtempSync(join(tmpdir(), 'ngrokd-root-'));
const { config } = writeDaemonConfig(dir, sim);
const hostsBefore = readFileSync('/etc/hosts', 'utf8');
const { NGROKD_HOSTS_PATH: _, ...env } = process.env;
const daemon = spawn(process.execPath, [cli, 'daemon', '--config', config], {
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let stderr = '';
daemon.stderr.on('data', (c: Buffer) => (stderr += c.toString()));

// Asynchronous throughout: this process also hosts the simulator, which must keep answering.
const run = promisify(execFile);
const ctl = async (...args: string[]): Promise<string> =>
  (await run(process.execPath, [cli, ...args, '--config', config], { env })).stdout;
const list = await waitForListening(() => ctl('list', '--json'), 2);
const status = JSON.parse(await ctl('status', '--json')) as StatusView;
const curl = (await run('curl', ['-s', '--max-time', '10', 'http://my-api.ngrok.app/'])).stdout;
const hostsDuring = readFileSync('/etc/hosts', 'utf8');
const addresses = (await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'ngrokd0'])).stdout;

daemon.kill('SIGTERM');
const exitCode = await new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
const linkAfter = (await run('ip', ['-o', 'link', 'show'])).stdout;
await sim.close();

process.stdout.write(
  `${JSON.stringify({
    list,
    status,
    curl,
    hostsBefore,
    hostsDuring,
    hostsAfter: readFileSync('/etc/hosts', 'utf8'),
    addresses,
    exitCode,
    linkAfter,
    stderr,
  })}\n`,
);
