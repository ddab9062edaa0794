/**
 * `ngrokd doctor` catches each failure it names when that failure is put in place, over real
 * sockets against the simulator: in process on a user-mode engine (API key, registration gone,
 * clock skew, certificate days, untrusted ingress, a stale hosts section, another process on our
 * subnet, HSTS-preloaded names) and, as root in private namespaces, on a root daemon through the
 * CLI (getaddrinfo shadowed by a line above ours, a squatter on our address, an overlapping route,
 * a removed address, the interface down).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DoctorCheck, DoctorReport, EndpointView } from '../../main/common/contract.ts';
import { SYSTEM_HOSTS_FILE } from '../../main/engine/doctor.ts';
import { ADDRESSES_LISTED_UP_TO } from '../../main/common/defaults.ts';
import { HostsSection } from '../../main/system/hosts-file.ts';
import { startEngineHarness, type EngineHarness } from '../support/engine-fixture.ts';
import { runWithPrivateEtc } from '../support/private-etc.ts';
import { rootOnly } from '../support/root-only.ts';

const SUBNET = '127.143.0.0/16';
const ORDER = [
  'config',
  'api',
  'registration',
  'certificate',
  'ingress',
  'privilege',
  'interface',
  'addresses',
  'hosts',
  'resolve',
  'listeners',
  'subnet',
  'hsts',
  'clock',
];

function check(report: DoctorReport, id: string): DoctorCheck {
  const c = report.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in ${JSON.stringify(report)}`);
  return c;
}

function statuses(report: DoctorReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
}

/** Every check but the ones named passes (or is one of the known user-mode warnings). */
function onlyFails(report: DoctorReport, ids: string[]): void {
  const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.id);
  assert.deepEqual(failed, ids, JSON.stringify(report, null, 2));
  for (const id of ids) {
    const c = check(report, id);
    assert.ok(
      c.message.length > 10 && (c.fix ?? '').length > 10,
      `${id} says what and how to fix: ${JSON.stringify(c)}`,
    );
  }
}

describe('doctor on a user-mode engine', () => {
  let h: EngineHarness;
  const endpoint = (hostname: string): EndpointView => {
    const e = h.engine.endpoints().find((x) => x.hostname === hostname);
    assert.ok(e, hostname);
    return e;
  };

  before(async () => {
    h = await startEngineHarness({
      subnet: SUBNET,
      sim: {
        endpoints: [
          { url: 'http://my-api.ngrok.app' },
          { url: 'http://web.prod' },
          { url: 'tcp://db.internal:5432' },
        ],
      },
    });
  });
  after(async () => h?.close());

  test('healthy: every check in order, no failure; user mode and the HSTS-preloaded .app name are warnings', async () => {
    const report = await h.engine.doctor();
    assert.deepEqual(
      report.checks.map((c) => c.id),
      ORDER,
    );
    for (const c of report.checks) {
      assert.deepEqual(Object.keys(c).sort(), ['fix', 'id', 'message', 'status']);
      assert.equal(c.status === 'pass', c.fix === null, `${c.id}: a fix exactly when not a pass`);
    }
    assert.deepEqual(statuses(report), {
      config: 'pass',
      api: 'pass',
      registration: 'pass',
      certificate: 'pass',
      ingress: 'pass',
      privilege: 'warn',
      interface: 'pass',
      addresses: 'pass',
      hosts: 'pass',
      resolve: 'warn',
      listeners: 'pass',
      subnet: 'pass',
      hsts: 'warn',
      clock: 'pass',
    });
    assert.match(
      check(report, 'ingress').message,
      /round trip [\d.]+ ms, TLS handshake [\d.]+ ms .*certificate verified/,
    );
    assert.match(check(report, 'certificate').message, /valid for 36\d more days/);
    assert.match(
      check(report, 'ingress').message,
      /TLS_AES_128_GCM_SHA256/,
      'AES-128 offered first, and picked',
    );
    assert.match(check(report, 'hsts').message, /my-api\.ngrok\.app/);
    assert.doesNotMatch(check(report, 'hsts').message, /web\.prod/);
    assert.match(check(report, 'resolve').message, new RegExp(h.hostsPath.replaceAll('/', '\\/')));
  });

  test('the API refuses the key: the api check fails with the API error and its fix', async () => {
    const key = h.sim.api.apiKey;
    h.sim.api.apiKey = 'sim_another_key';
    try {
      const report = await h.engine.doctor();
      onlyFails(report, ['api']);
      assert.match(check(report, 'api').message, /401|key/i);
    } finally {
      h.sim.api.apiKey = key;
    }
  });

  test('a clock 10 minutes off the API Date header fails the clock check; 2 minutes is a warning', async () => {
    try {
      h.sim.api.dateOffsetMs = 10 * 60_000;
      let report = await h.engine.doctor();
      onlyFails(report, ['clock']);
      assert.match(check(report, 'clock').message, /(599|600|601) s behind/);
      h.sim.api.dateOffsetMs = -2 * 60_000;
      report = await h.engine.doctor();
      assert.equal(check(report, 'clock').status, 'warn');
      assert.match(check(report, 'clock').message, /(119|120|121) s ahead of/);
    } finally {
      h.sim.api.dateOffsetMs = 0;
    }
    assert.equal(check(await h.engine.doctor(), 'clock').status, 'pass');
  });

  test('the ingress presents a certificate the configured trust does not verify: the ingress check fails', async () => {
    h.sim.ingress.useUntrustedCert(true);
    try {
      const report = await h.engine.doctor();
      onlyFails(report, ['ingress']);
      assert.match(check(report, 'ingress').message, /certificate|trust/i);
    } finally {
      h.sim.ingress.useUntrustedCert(false);
    }
  });

  test('a stale hosts section: a name that is gone and a wrong address are named', async () => {
    const copy = join(h.dir, 'hosts-stale');
    copyFileSync(h.hostsPath, copy);
    const web = endpoint('web.prod');
    writeFileSync(
      copy,
      readFileSync(copy, 'utf8')
        .replace(`${web.ip} web.prod`, `${web.ip} old.gone.example`)
        .replace(/(\d+\.\d+\.\d+\.\d+) my-api\.ngrok\.app/, '127.143.9.9 my-api.ngrok.app'),
    );
    const section = new HostsSection({
      path: copy,
      interfaceName: h.config.net.interface_name,
      subnet: h.engine.status().interface.subnet,
    });
    const report = await h.engine.doctor({ hostsPath: copy, readHosts: () => section.read() });
    onlyFails(report, ['hosts']);
    const message = check(report, 'hosts').message;
    assert.match(message, /missing web\.prod/);
    assert.match(message, /stale old\.gone\.example/);
    assert.match(message, /wrong address for my-api\.ngrok\.app \(127\.143\.9\.9 instead of 127\.143\./);
  });

  test('a hung resolver fails the resolve check in bounded time instead of hanging doctor', async () => {
    const report = await h.engine.doctor({
      hostsPath: SYSTEM_HOSTS_FILE,
      readHosts: async () => h.engine.endpoints().map((e) => ({ ip: e.ip, hostname: e.hostname })),
      lookup: () => new Promise<string[]>(() => undefined),
    });
    onlyFails(report, ['resolve']);
    assert.match(check(report, 'resolve').message, /does not resolve \(.*no answer within 3000 ms\)/);
  });

  test('another process listening on an address of our subnet is named with its pid', async () => {
    const squatter = spawn(
      process.execPath,
      ['-e', "require('net').createServer().listen(8080, '127.143.0.250', () => console.log('up'))"],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => squatter.stdout.once('data', resolve));
      const report = await h.engine.doctor();
      onlyFails(report, ['listeners']);
      assert.match(
        check(report, 'listeners').message,
        new RegExp(`process ${squatter.pid} listens on 127\\.143\\.0\\.250:8080`),
      );
    } finally {
      const exited = new Promise((resolve) => squatter.once('exit', resolve));
      squatter.kill('SIGKILL');
      await exited;
    }
  });

  test('more than 1,000 endpoints on Linux: the addresses check looks at the local route, not at each address', async () => {
    const base = endpoint('web.prod');
    const many = Array.from({ length: ADDRESSES_LISTED_UP_TO + 1 }, (_, i) => ({
      ...base,
      hostname: `svc-${i}.bench`,
      ip: `10.107.${1 + (i >> 8)}.${i & 255}`,
    }));
    const overrides = {
      platform: 'linux' as const,
      interface: { name: 'ngrokd0', kind: 'bridge' as const, subnet: '10.107.0.0/16' },
      endpoints: many,
      networkInterfaces: () => ({ ngrokd0: [] }),
    };
    const routed = check(await h.engine.doctor({ ...overrides, localByRoute: () => true }), 'addresses');
    assert.equal(routed.status, 'pass', routed.message);
    assert.match(
      routed.message,
      /all 1001 endpoint addresses are local through the local route for 10\.107\.0\.0\/16/,
    );
    const unrouted = check(await h.engine.doctor({ ...overrides, localByRoute: () => false }), 'addresses');
    assert.equal(unrouted.status, 'fail');
    assert.match(
      unrouted.message,
      /ngrokd0 has no local route for 10\.107\.0\.0\/16: 10\.107\.1\.0 \(svc-0\.bench\)/,
    );
    assert.match(unrouted.fix ?? '', /ip route show table local dev ngrokd0/);
    const unknown = check(await h.engine.doctor({ ...overrides, localByRoute: () => null }), 'addresses');
    assert.equal(unknown.status, 'warn', 'cannot tell is not a pass');
    // Counted as the interface is managed: distinct addresses of every endpoint. 1,000 of them
    // (one turned off, one with two ports) are listed one by one, so a missing one is a failure.
    const fewer = many
      .slice(0, ADDRESSES_LISTED_UP_TO - 1)
      .concat([
        { ...many[0], port: 8080 } as EndpointView,
        { ...many[ADDRESSES_LISTED_UP_TO - 1], enabled: false } as EndpointView,
      ]);
    const listed = check(
      await h.engine.doctor({ ...overrides, endpoints: fewer, localByRoute: () => true }),
      'addresses',
    );
    assert.equal(listed.status, 'fail', listed.message);
    assert.match(listed.message, /endpoint address\(es\) are missing on ngrokd0/);
  });

  test('the registration was deleted at ngrok: the registration check fails', async () => {
    h.sim.api.operators.clear();
    const report = await h.engine.doctor();
    onlyFails(report, ['registration']);
    assert.match(check(report, 'registration').message, /no longer exists at ngrok/);
  });
});

describe('doctor and certificate lifetime', () => {
  test('a certificate with 3 days left is a warning naming the days and the date', async () => {
    const h = await startEngineHarness({
      subnet: '127.144.0.0/16',
      sim: { certLifetimeDays: 3, endpoints: [{ url: 'http://web.prod' }] },
    });
    try {
      const c = check(await h.engine.doctor(), 'certificate');
      assert.equal(c.status, 'warn', JSON.stringify(c));
      assert.match(c.message, /expires in [23]\.\d days \(\d{4}-\d\d-\d\dT/);
    } finally {
      await h.close();
    }
  });
});

const skip = rootOnly('it runs a root daemon in private namespaces with a copy of /etc');
const SCENARIO = fileURLToPath(new URL('./netns/doctor.scenario.ts', import.meta.url));

interface Run {
  code: number;
  report: DoctorReport;
}

test(
  'doctor --json on a root daemon catches a shadowed name, a squatter, an overlapping route, a lost address, a down interface',
  { skip },
  () => {
    const r = runWithPrivateEtc<{
      error?: string;
      stderr: string;
      list: EndpointView[];
      squatterPid: number;
      healthy: Run;
      shadowed: Run;
      squatted: Run;
      overlapped: Run;
      addressGone: Run;
      down: Run;
    }>(SCENARIO, '127.0.0.1 localhost\n# a comment the user wrote\n');
    assert.equal(r.error, undefined, `${r.error}\n${r.stderr}`);
    assert.equal(r.healthy.code, 0, JSON.stringify(r.healthy.report, null, 2));
    assert.deepEqual(
      r.healthy.report.checks.filter((c) => c.status !== 'pass').map((c) => c.id),
      ['hsts'],
      'root mode: all but the .app warning pass',
    );
    assert.match(check(r.healthy.report, 'resolve').message, /every hostname resolves/);
    assert.match(check(r.healthy.report, 'interface').message, /ngrokd0 .* is up with gateway 10\.107\.0\.1/);

    assert.equal(r.shadowed.code, 1);
    onlyFails(r.shadowed.report, ['resolve']);
    assert.match(check(r.shadowed.report, 'resolve').message, /my-api\.ngrok\.app → .*10\.99\.0\.9/);

    assert.equal(r.squatted.code, 1);
    onlyFails(r.squatted.report, ['listeners']);
    assert.match(
      check(r.squatted.report, 'listeners').message,
      new RegExp(`process ${r.squatterPid} listens on 10\\.107\\.0\\.1:9999`),
    );

    onlyFails(r.overlapped.report, ['subnet']);
    assert.match(check(r.overlapped.report, 'subnet').message, /10\.107\.128\.0\/17/);
    assert.match(check(r.overlapped.report, 'subnet').message, /vpn0/);

    const api = r.list.find((e) => e.hostname === 'my-api.ngrok.app') as EndpointView;
    assert.equal(
      check(r.addressGone.report, 'addresses').status,
      'fail',
      JSON.stringify(r.addressGone.report, null, 2),
    );
    assert.match(
      check(r.addressGone.report, 'addresses').message,
      new RegExp(`${api.ip.replaceAll('.', '\\.')} \\(my-api\\.ngrok\\.app\\)`),
    );

    assert.equal(check(r.down.report, 'interface').status, 'fail', JSON.stringify(r.down.report, null, 2));
    assert.match(check(r.down.report, 'interface').message, /ngrokd0 is down/);
  },
);
