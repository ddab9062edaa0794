/**
 * RootOps's own checks and bookkeeping, with the interface backend replaced by a recorder (the real
 * rtnetlink backend is exercised as root in test/integration/helper.test.ts). Endpoint addresses
 * come from 127.107.0.0/16 so listening works without an interface.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NgrokdError } from '../../../main/common/errors.ts';
import type { InterfaceSpec } from '../../../main/common/privileged.ts';
import { parseHelperConfig } from '../../../helper/main.ts';
import type { NetworkBackend } from '../../../main/system/network-backend.ts';
import { removeLeftovers, RootOps } from '../../../main/system/root-ops.ts';

class RecordingBackend implements NetworkBackend {
  readonly calls: unknown[][] = [];
  async ensureInterface(spec: InterfaceSpec) {
    this.calls.push(['ensureInterface', spec.name, spec.subnet]);
    return { name: spec.name, kind: 'bridge' as const, subnet: spec.subnet };
  }
  async setAddresses(name: string, ips: readonly string[]) {
    this.calls.push(['setAddresses', name, [...ips]]);
  }
  async destroyInterface(name: string) {
    this.calls.push(['destroyInterface', name]);
  }
  async destroyManagedInterfaces(options: { keep?: string } = {}) {
    this.calls.push(['destroyManagedInterfaces', options.keep ?? null]);
    return [];
  }
}

const SUBNET = '127.107.0.0/16';
const USER_LINES = '127.0.0.1 localhost\n# mine\n';
let dir: string;
let hostsPath: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-rootops-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function setUp(name = 'ngrokd0') {
  hostsPath = join(dir, `hosts-${Math.random().toString(36).slice(2)}`);
  writeFileSync(hostsPath, USER_LINES);
  const backend = new RecordingBackend();
  const ops = new RootOps({ hostsPath, backend });
  await ops.ensureInterface({ name, subnet: SUBNET });
  return { ops, backend };
}

function code(expected: string, pattern: RegExp) {
  return (err: NgrokdError) => {
    assert.equal(err.code, expected);
    assert.match(err.message, pattern);
    return true;
  };
}

test('root mode uses the configured subnet and reports its hosts file', async () => {
  const { ops } = await setUp();
  assert.equal(ops.mode, 'root');
  assert.equal(ops.effectiveSubnet('10.107.0.0/16'), '10.107.0.0/16');
  assert.equal(ops.hostsPath, hostsPath);
  assert.equal(new RootOps({ backend: new RecordingBackend() }).hostsPath, '/etc/hosts');
});

test('nothing is touched before ensureInterface, and a bad interface name never reaches the backend', async () => {
  const backend = new RecordingBackend();
  const ops = new RootOps({ hostsPath: join(dir, 'never'), backend });
  await assert.rejects(ops.setHosts([]), code('HELPER_ERROR', /before the interface is set up/));
  await assert.rejects(ops.setAddresses([]), code('HELPER_ERROR', /before the interface is set up/));
  await assert.rejects(
    ops.ensureInterface({ name: 'eth0;reboot', subnet: SUBNET }),
    code('CONFIG_INVALID', /eth0;reboot/),
  );
  await assert.rejects(
    ops.ensureInterface({ name: 'ngrokd0', subnet: '10.107.0.1/16' }),
    code('SUBNET_INVALID', /host bits/),
  );
  await ops.teardown();
  assert.deepEqual(backend.calls, []);
});

test('setAddresses accepts only usable addresses of the subnet, naming the offender', async () => {
  const { ops, backend } = await setUp();
  await assert.rejects(
    ops.setAddresses(['127.107.0.2', '10.0.0.1']),
    code('SUBNET_INVALID', /10\.0\.0\.1 is not a usable address of 127\.107\.0\.0\/16/),
  );
  await assert.rejects(ops.setAddresses(['127.107.0.1']), code('SUBNET_INVALID', /127\.107\.0\.1/));
  await assert.rejects(ops.setAddresses(['127.107.255.255']), code('SUBNET_INVALID', /127\.107\.255\.255/));
  await assert.rejects(ops.setAddresses(['127.107.0.02']), code('SUBNET_INVALID', /leading zero/));
  assert.deepEqual(backend.calls.slice(1), [], 'the backend saw none of them');
  await ops.setAddresses(['127.107.0.2', '127.107.0.2', '127.107.0.3']);
  assert.deepEqual(backend.calls.at(-1), ['setAddresses', 'ngrokd0', ['127.107.0.2', '127.107.0.3']]);
});

test('listen binds only managed addresses and reports a busy port as PORT_IN_USE naming ip:port', async () => {
  const { ops } = await setUp();
  await ops.setAddresses(['127.107.0.5']);
  await assert.rejects(
    ops.listen('127.107.0.6', 8080),
    code('LISTEN_FAILED', /127\.107\.0\.6 is not an endpoint address on ngrokd0/),
  );
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen({ host: '127.107.0.5', port: 0 }, resolve));
  const busy = (squatter.address() as { port: number }).port;
  try {
    await assert.rejects(
      ops.listen('127.107.0.5', busy),
      code('PORT_IN_USE', new RegExp(`127\\.107\\.0\\.5:${busy} is already in use`)),
    );
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
  const { server, port } = await ops.listen('127.107.0.5', busy);
  assert.equal(port, busy);
  assert.deepEqual(server.address(), { address: '127.107.0.5', family: 'IPv4', port: busy });
  await new Promise((resolve) => server.close(resolve));
});

test('clearEndpoints removes the hosts section and the addresses but keeps the interface', async () => {
  const { ops, backend } = await setUp();
  await ops.setAddresses(['127.107.0.2']);
  assert.deepEqual(await ops.setHosts([{ ip: '127.107.0.2', hostname: 'web.prod' }]), { changed: true });
  assert.match(readFileSync(hostsPath, 'utf8'), /127\.107\.0\.2 web\.prod/);
  await ops.clearEndpoints();
  assert.equal(readFileSync(hostsPath, 'utf8'), USER_LINES);
  assert.deepEqual(backend.calls.at(-1), ['setAddresses', 'ngrokd0', []]);
  assert.ok(!backend.calls.some((c) => c[0] === 'destroyInterface'));
  await assert.rejects(ops.listen('127.107.0.2', 8080), code('LISTEN_FAILED', /not an endpoint address/));
});

test('teardown removes the section, the addresses and the interface, and is idempotent', async () => {
  const { ops, backend } = await setUp('ngrokt1');
  await ops.setHosts([{ ip: '127.107.0.2', hostname: 'web.prod' }]);
  assert.match(readFileSync(hostsPath, 'utf8'), /# BEGIN ngrokd managed section \(ngrokt1\)/);
  await ops.teardown();
  await ops.teardown();
  assert.equal(readFileSync(hostsPath, 'utf8'), USER_LINES);
  assert.deepEqual(backend.calls.slice(-2), [
    ['setAddresses', 'ngrokt1', []],
    ['destroyInterface', 'ngrokt1'],
  ]);
  assert.equal(ops.interface, null);
});

test('a new subnet first withdraws what was published for the old one', async () => {
  const { ops, backend } = await setUp();
  await ops.setHosts([{ ip: '127.107.0.2', hostname: 'web.prod' }]);
  await ops.ensureInterface({ name: 'ngrokd0', subnet: '127.108.0.0/16' });
  assert.equal(readFileSync(hostsPath, 'utf8'), USER_LINES);
  assert.deepEqual(backend.calls.slice(-2), [
    ['setAddresses', 'ngrokd0', []],
    ['ensureInterface', 'ngrokd0', '127.108.0.0/16'],
  ]);
});

test('uninstall cleanup removes a section left behind and the interface, without a running helper', async () => {
  const { ops } = await setUp('ngrokt2');
  await ops.setHosts([{ ip: '127.107.0.9', hostname: 'left.behind' }]);
  const backend = new RecordingBackend();
  await removeLeftovers({ interfaceName: 'ngrokt2', hostsPath, backend });
  assert.equal(readFileSync(hostsPath, 'utf8'), USER_LINES);
  assert.deepEqual(backend.calls, [['destroyManagedInterfaces', null]]);
});

// --- The daemon's configuration ------------------------------------------------------------------

test('helper options: defaults, argv over environment, --uid as the installer passes it', () => {
  const defaults = parseHelperConfig([], {});
  assert.equal(defaults.allowedUid, null);
  assert.equal(defaults.hostsPath, '/etc/hosts');
  assert.equal(defaults.gracePeriodMs, 10_000);
  assert.equal(defaults.teardown, false);
  assert.deepEqual(defaults.network, { name: 'ngrokd0', subnet: '10.107.0.0/16' });
  assert.match(defaults.socketPath, /^\/(var\/)?run\/ngrokd-helper\.sock$/);
  const env = {
    NGROKD_HELPER_SOCKET: '/run/env.sock',
    NGROKD_HELPER_ALLOWED_UID: '1000',
    NGROKD_HOSTS_PATH: '/tmp/h',
    NGROKD_HELPER_GRACE_MS: '250',
  };
  assert.deepEqual(parseHelperConfig([], env), {
    socketPath: '/run/env.sock',
    allowedUid: 1000,
    hostsPath: '/tmp/h',
    stateDir: '/var/lib/ngrokd-helper',
    gracePeriodMs: 250,
    idleTimeoutMs: 30_000,
    version: defaults.version,
    network: defaults.network,
    teardown: false,
  });
  const argv = ['--socket', '/run/a.sock', '--uid', '501', '--version', '1.2.3', '--grace-ms', '0'];
  assert.deepEqual(parseHelperConfig(argv, env), {
    socketPath: '/run/a.sock',
    allowedUid: 501,
    hostsPath: '/tmp/h',
    stateDir: '/var/lib/ngrokd-helper',
    gracePeriodMs: 0,
    idleTimeoutMs: 30_000,
    version: '1.2.3',
    network: defaults.network,
    teardown: false,
  });
  assert.equal(parseHelperConfig(['--teardown'], {}).teardown, true);
  assert.equal(parseHelperConfig(['--teardown', '--interface', 'ngrokt0'], {}).network.name, 'ngrokt0');
});

test('helper options are validated, naming the bad value', () => {
  const bad: [string[], RegExp][] = [
    [['--uid', 'alice'], /allowed uid "alice"/],
    [['--uid=-1'], /allowed uid "-1"/],
    [['--grace-ms', '1e3'], /grace period \(ms\) "1e3"/],
    [['--socket', 'relative.sock'], /socket path "relative.sock" is invalid: expected an absolute path/],
    [['--hosts-path', 'hosts'], /hosts path "hosts"/],
    [['--version', '1.0; rm'], /version "1.0; rm"/],
    [['--teardown', '--interface', 'a/b'], /"a\/b"/],
  ];
  for (const [argv, pattern] of bad) {
    assert.throws(() => parseHelperConfig(argv, {}), code('CONFIG_INVALID', pattern), argv.join(' '));
  }
  assert.throws(
    () => parseHelperConfig(['--shell', 'x'], {}),
    code('CONFIG_INVALID', /Unknown option '--shell'/),
  );
});
