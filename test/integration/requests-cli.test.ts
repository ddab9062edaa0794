/**
 * The inspector and per-endpoint switches from a terminal, against a real daemon process and the
 * simulator: `requests` (table, --json, --endpoint, --follow NDJSON, --har validated against the
 * HAR 1.2 shape), `replay ID` and its refusal.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { startSimulator, type Simulator } from '../sim/simulator.ts';
import { httpRequest } from '../support/http.ts';
import { harSchema } from '../support/har-schema.ts';
import type { DoctorReport, EndpointView, RequestRecord } from '../../main/common/contract.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'main/cli/ngrokd.ts');

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('ngrokd requests / replay', () => {
  let sim: Simulator;
  let dir: string;
  let configPath: string;
  let env: NodeJS.ProcessEnv;
  let daemon: ChildProcess;
  let api: EndpointView;

  const cli = async (...args: string[]): Promise<string> =>
    (await run(process.execPath, [CLI, ...args, '--config', configPath], { env, cwd: ROOT })).stdout;
  const cliFails = async (...args: string[]): Promise<{ code: number; stderr: string }> => {
    try {
      await run(process.execPath, [CLI, ...args, '--config', configPath], { env, cwd: ROOT });
    } catch (err) {
      const e = err as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
    assert.fail(`ngrokd ${args.join(' ')} succeeded`);
  };

  before(async () => {
    sim = await startSimulator({
      endpoints: [
        { url: 'http://my-api.ngrok.app' },
        { url: 'http://web.prod' },
        { url: 'tcp://db.internal:5432' },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), 'ngrokd-requests-cli-'));
    writeFileSync(join(dir, 'ca.pem'), sim.ingressCaPem);
    writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
    configPath = join(dir, 'config.yml');
    writeFileSync(
      configPath,
      stringify({
        api: { url: sim.apiUrl },
        ingressCA: join(dir, 'ca.pem'),
        server: { state_dir: join(dir, 'state'), socket_path: join(dir, 'ngrokd.sock') },
        bound_endpoints: { poll_interval: 0.5 },
        net: { user_subnet: '127.136.0.0/16' },
        inspect: { bodies: true, max_body_bytes: 1024 },
      }),
    );
    env = {
      ...process.env,
      NGROK_API_KEY: sim.apiKey,
      NGROKD_HOSTS_PATH: join(dir, 'hosts'),
      NGROKD_TRUST_DIR: join(dir, 'none'),
    };
    daemon = spawn(process.execPath, [CLI, 'daemon', '--user-mode', '--config', configPath], {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const list = await waitFor('listening endpoints', async () => {
      const parsed = JSON.parse(await cli('list', '--json')) as EndpointView[];
      return parsed.length === 3 && parsed.every((e) => e.listening) ? parsed : undefined;
    });
    api = list.find((e) => e.hostname === 'my-api.ngrok.app') as EndpointView;
  });

  after(async () => {
    if (daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('requests lists what went through, as a table and as JSON; --endpoint filters', async () => {
    await httpRequest(api.ip, api.listen_port, {
      path: '/hello?name=x',
      headers: { Authorization: 'Bearer nope' },
    });
    await httpRequest(api.ip, api.listen_port, { method: 'POST', path: '/items', body: '{"a":1}' });
    const web = JSON.parse(await cli('list', '--json')) as EndpointView[];
    const prod = web.find((e) => e.hostname === 'web.prod') as EndpointView;
    await httpRequest(prod.ip, prod.listen_port, { path: '/' });

    const all = JSON.parse(await cli('requests', '--json')) as RequestRecord[];
    assert.deepEqual(
      all.map((r) => [r.endpoint, r.method, r.path, r.status]),
      [
        ['my-api.ngrok.app', 'GET', '/hello?name=x', 200],
        ['my-api.ngrok.app', 'POST', '/items', 200],
        ['web.prod', 'GET', '/', 200],
      ],
    );
    for (const key of ['ts', 'duration_ms', 'bytes_out', 'bytes_in', 'connection_id', 'id'])
      assert.ok(key in (all[0] as RequestRecord), `record lacks ${key}`);
    const only = JSON.parse(await cli('requests', '--json', '--endpoint', 'web.prod')) as RequestRecord[];
    assert.deepEqual(
      only.map((r) => r.endpoint),
      ['web.prod'],
    );
    const table = await cli('requests');
    assert.match(table, /^ +ID +TIME +ENDPOINT +METHOD/m);
    assert.match(table, /my-api\.ngrok\.app +POST +200 .*\/items/);
    const bad = await cliFails('requests', '--limit', 'lots');
    assert.match(bad.stderr, /--limit "lots" is not a positive whole number/);
  });

  test('--har writes a HAR 1.2 log with redacted headers and the captured bodies', async () => {
    const file = join(dir, 'out.har');
    assert.match(await cli('requests', '--har', file, '--endpoint', 'my-api.ngrok.app'), /Wrote 2 requests/);
    const har = harSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    const [get, post] = har.log.entries;
    assert.ok(get !== undefined && post !== undefined);
    assert.equal(get.request.url, 'http://my-api.ngrok.app/hello?name=x');
    assert.deepEqual(get.request.queryString, [{ name: 'name', value: 'x' }]);
    assert.ok(
      get.request.headers.some((h) => h.name.toLowerCase() === 'authorization' && h.value === '[redacted]'),
    );
    assert.ok(!readFileSync(file, 'utf8').includes('Bearer nope'));
    assert.equal(post.request.postData?.text, '{"a":1}');
    assert.match(post.response.content.text ?? '', /"received_bytes":7/);
    assert.equal(post.response.status, 200);
  });

  test('replay sends a captured request again; a request without its body is refused', async () => {
    const [, post] = JSON.parse(
      await cli('requests', '--json', '--endpoint', 'my-api.ngrok.app'),
    ) as RequestRecord[];
    assert.ok(post !== undefined);
    const before = sim.backends.httpRequests.length;
    const replayed = JSON.parse(await cli('replay', String(post.id), '--json')) as RequestRecord;
    assert.equal(replayed.replay_of, post.id);
    assert.equal(replayed.status, 200);
    assert.deepEqual(
      sim.backends.httpRequests.slice(before).map((r) => [r.method, r.path, r.host]),
      [['POST', '/items', 'my-api.ngrok.app']],
    );

    await httpRequest(api.ip, api.listen_port, { method: 'PUT', path: '/big', body: 'y'.repeat(5000) });
    const big = (JSON.parse(await cli('requests', '--json', '--limit', '1')) as RequestRecord[])[0];
    assert.equal(big?.path, '/big');
    const refused = await cliFails('replay', String(big?.id));
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /REPLAY_UNAVAILABLE\] request \d+ cannot be replayed: its body was not captured whole/,
    );
    assert.match(refused.stderr, /inspect\.bodies: true/);
    const missing = await cliFails('replay', '99999');
    assert.match(
      missing.stderr,
      /request 99999 cannot be replayed: the inspector has no request with that id/,
    );
  });

  test('disable / enable / pin from the CLI; list --json shows enabled and pinned', async () => {
    const off = JSON.parse(await cli('disable', 'web.prod', '--json')) as EndpointView[];
    assert.deepEqual(
      off.filter((e) => e.hostname === 'web.prod').map((e) => [e.enabled, e.listening]),
      [[false, false]],
    );
    assert.match(await cli('list'), /web\.prod +\S+ +http +disabled/);
    await cli('pin', 'db.internal');
    const listed = JSON.parse(await cli('list', '--json')) as EndpointView[];
    assert.equal(listed[0]?.hostname, 'db.internal');
    assert.equal(listed[0]?.pinned, true);
    assert.match(await cli('list'), /^\* db\.internal/m);
    const on = JSON.parse(await cli('enable', 'web.prod', '--json')) as EndpointView[];
    assert.deepEqual(
      on.filter((e) => e.hostname === 'web.prod').map((e) => [e.enabled, e.listening]),
      [[true, true]],
    );
    const unknown = await cliFails('disable', 'nope.example');
    assert.match(unknown.stderr, /no endpoint named "nope\.example"/);
  });

  test('doctor: a table with the fixes, --json with {checks:[{id,status,message,fix}]}, exit 0 with warnings only', async () => {
    const report = JSON.parse(await cli('doctor', '--json')) as DoctorReport;
    assert.equal(report.checks.length, 14);
    assert.equal(report.checks.filter((c) => c.status === 'fail').length, 0, JSON.stringify(report, null, 2));
    const text = await cli('doctor');
    assert.match(text, /^ok {4}ingress {6}the ingress 127\.0\.0\.1:\d+ .*certificate verified/m);
    assert.match(text, /^warn {2}hsts {9}my-api\.ngrok\.app is an http endpoint under \.app/m);
    assert.match(text, /^ {19}→ Use curl/m, 'a fix under each warning');
    assert.match(text, /No failures, \d warning\(s\)\.\n$/);
  });

  test('doctor without a daemon: the config check and a failed daemon check with the command to start it, exit 1', async () => {
    const r = await run(
      process.execPath,
      [CLI, 'doctor', '--json', '--config', configPath, '--socket', join(dir, 'nobody.sock')],
      {
        env,
        cwd: ROOT,
      },
    ).then(
      () => assert.fail('doctor succeeded without a daemon'),
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout) as DoctorReport;
    assert.deepEqual(
      report.checks.map((c) => [c.id, c.status]),
      [
        ['config', 'pass'],
        ['daemon', 'fail'],
      ],
    );
    assert.match(report.checks[1]?.message ?? '', /nobody\.sock/);
    assert.match(report.checks[1]?.fix ?? '', /ngrokd -- daemon/);
  });

  test('requests --follow --json streams each new request as one JSON line', async () => {
    const follow = spawn(process.execPath, [CLI, 'requests', '--follow', '--json', '--config', configPath], {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: RequestRecord[] = [];
    let buffered = '';
    follow.stdout?.on('data', (c: Buffer) => {
      buffered += c.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buffered.slice(0, nl)) as RequestRecord);
        buffered = buffered.slice(nl + 1);
      }
    });
    try {
      // It starts with the last few requests, like tail -f.
      // (The backlog may arrive over several reads of the pipe: only the live lines are counted.)
      await waitFor('the backlog', async () => (lines.length > 0 ? true : undefined));
      await httpRequest(api.ip, api.listen_port, { path: '/live-1' });
      await httpRequest(api.ip, api.listen_port, { path: '/live-2' });
      const live = (): string[] => lines.map((r) => r.path).filter((p) => p.startsWith('/live-'));
      await waitFor('two live lines', async () => (live().length >= 2 ? true : undefined));
      assert.deepEqual(live(), ['/live-1', '/live-2'], 'each once, in order');
      assert.deepEqual(
        lines.slice(-2).map((r) => r.path),
        ['/live-1', '/live-2'],
        'after the backlog',
      );
    } finally {
      follow.kill('SIGTERM');
    }
  });
});
