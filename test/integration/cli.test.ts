/**
 * The headless CLI as a user runs it: `npm run ngrokd -- daemon --config FILE`, `status --json`,
 * `list --json`, SIGTERM for a clean shutdown, and config errors that name the key.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { startSimulator, type Simulator } from '../sim/simulator.ts';
import { canConnect, httpRequest } from '../support/http.ts';
import type { EndpointView, StatusView } from '../../main/common/contract.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const NODE = process.execPath;
const CLI = join(ROOT, 'main/cli/ngrokd.ts');
const HOSTS_BEFORE = '127.0.0.1 localhost\n# keep me\n';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

describe('ngrokd CLI', () => {
  let sim: Simulator;
  let dir: string;
  let configPath: string;
  let hostsPath: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    sim = await startSimulator({
      endpoints: [{ url: 'http://my-api.ngrok.app' }, { url: 'tcp://postgres.db:5432' }],
    });
    dir = mkdtempSync(join(tmpdir(), 'ngrokd-cli-'));
    writeFileSync(join(dir, 'ca.pem'), sim.ingressCaPem);
    hostsPath = join(dir, 'hosts');
    writeFileSync(hostsPath, HOSTS_BEFORE);
    configPath = join(dir, 'config.yml');
    writeFileSync(
      configPath,
      stringify({
        api: { url: sim.apiUrl },
        ingressCA: join(dir, 'ca.pem'),
        server: { state_dir: join(dir, 'state'), socket_path: join(dir, 'ngrokd.sock') },
        bound_endpoints: { poll_interval: 0.5 },
        net: { user_subnet: '127.123.0.0/16' },
      }),
    );
    env = {
      ...process.env,
      NGROK_API_KEY: sim.apiKey,
      NGROKD_HOSTS_PATH: hostsPath,
      NGROKD_TRUST_DIR: join(dir, 'none'),
    };
  });
  after(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = async (...args: string[]): Promise<string> =>
    (await run(NODE, [CLI, ...args, '--config', configPath], { env, cwd: ROOT })).stdout;

  test('daemon runs; status and list answer in JSON; SIGTERM via npm shuts down cleanly', async () => {
    // Started the way the README says, through npm, to check the signal reaches the daemon.
    const daemon = spawn(
      'npm',
      ['run', '-s', 'ngrokd', '--', 'daemon', '--user-mode', '--config', configPath],
      {
        env,
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    daemon.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const list = await waitFor('two listening endpoints', async () => {
        const parsed = JSON.parse(await cli('list', '--json')) as EndpointView[];
        return parsed.length === 2 && parsed.every((e) => e.listening) ? parsed : undefined;
      });
      for (const e of list) {
        for (const key of [
          'id',
          'url',
          'hostname',
          'ip',
          'port',
          'listening',
          'bytes_in',
          'bytes_out',
          'connections',
        ])
          assert.ok(key in e, `list --json lacks ${key}`);
      }
      const status = JSON.parse(await cli('status', '--json')) as StatusView;
      assert.equal(status.registered, true);
      assert.match(status.operator_id ?? '', /^k8sop_/);
      assert.equal(status.endpoint_count, 2);
      assert.deepEqual(status.interface, { name: 'lo', kind: 'loopback', subnet: '127.123.0.0/16' });
      assert.equal(status.last_error, null);
      assert.match(await cli('status'), /registered: +yes/);

      const api = list.find((e) => e.hostname === 'my-api.ngrok.app') as EndpointView;
      const { body } = await httpRequest(api.ip, api.listen_port, { headers: { Host: api.hostname } });
      assert.match(body, /my-api\.ngrok\.app/);
      assert.match(readFileSync(hostsPath, 'utf8'), /my-api\.ngrok\.app/);

      daemon.kill('SIGTERM');
      assert.equal(await exited(daemon), 0, `daemon exit code; stderr: ${stderr}`);
      assert.equal(readFileSync(hostsPath, 'utf8'), HOSTS_BEFORE, 'hosts section removed');
      assert.equal(existsSync(join(dir, 'ngrokd.sock')), false, 'control socket removed');
      assert.equal(await canConnect(api.ip, api.listen_port), false, 'listener closed');
    } finally {
      daemon.kill('SIGKILL');
    }
  });

  test('status without a daemon says so and exits non-zero', async () => {
    await assert.rejects(cli('status'), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /not running/);
      return true;
    });
  });

  test('an unknown key or a bad value exits 2 naming the key', async () => {
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, 'net:\n  subnet: 10.107.0.0/33\nbogus: 1\n');
    await assert.rejects(
      run(NODE, [CLI, 'daemon', '--config', bad], { env, cwd: ROOT }),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, /unknown key "bogus"/);
        assert.match(err.stderr, /key "net\.subnet".*10\.107\.0\.0\/33/);
        return true;
      },
    );
  });
});
