/**
 * The macOS backend's commands, in order, with a recording runner and a fake utun (macOS cannot run
 * here: this pins down what the helper would do there, NOT VERIFIED ON macOS). The DNS flush is
 * checked through RootOps with a real hosts file in a temp directory.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MacosBackend, type UtunHandle } from '../../../../main/system/macos/backend.ts';
import { utunError } from '../../../../main/system/macos/utun.ts';
import { platformBackend } from '../../../../main/system/platform-backend.ts';
import { removeLeftovers, RootOps } from '../../../../main/system/root-ops.ts';
import type { CommandArgv } from '../../../../main/system/run-command.ts';

const SUBNET = '10.107.0.0/16';
const IFCONFIG = '/sbin/ifconfig';
const ROUTE = '/sbin/route';
const FLUSH = [
  ['/usr/bin/dscacheutil', '-flushcache'],
  ['/usr/bin/killall', '-HUP', 'mDNSResponder'],
];

function utunAlias(ip: string) {
  return [IFCONFIG, 'utun4', 'inet', ip, ip, 'netmask', '255.255.255.255', 'alias'];
}
function utunUnalias(ip: string) {
  return [IFCONFIG, 'utun4', 'inet', ip, '-alias'];
}
function loAlias(ip: string) {
  return [IFCONFIG, 'lo0', 'alias', ip, 'netmask', '255.255.255.255', 'up'];
}
function loUnalias(ip: string) {
  return [IFCONFIG, 'lo0', 'inet', ip, '-alias'];
}
const UTUN_SETUP = [
  utunAlias('10.107.0.1'),
  [IFCONFIG, 'utun4', 'up'],
  [ROUTE, '-n', 'add', '-net', SUBNET, '-interface', 'utun4'],
];

interface Harness {
  backend: MacosBackend;
  /** Every argv run, in order. */
  commands: CommandArgv[];
  utuns: { opened: number; closed: number };
}

/**
 * A backend whose utun opens (or fails with EPERM, like a sandboxed helper) and whose commands are
 * recorded; `failWhen` makes a command fail the way runCommand reports it (stderr in the message).
 */
function harness(
  options: { utun?: 'ok' | 'EPERM'; failWhen?: (argv: CommandArgv) => string | null } = {},
): Harness {
  const commands: CommandArgv[] = [];
  const utuns = { opened: 0, closed: 0 };
  const backend = new MacosBackend({
    run: async (argv) => {
      commands.push(argv);
      await new Promise((resolve) => setImmediate(resolve));
      const stderr = options.failWhen?.(argv) ?? null;
      if (stderr !== null) throw new Error(`exit 1: ${stderr}`);
      return { stdout: '', stderr: '' };
    },
    openUtun: (): UtunHandle => {
      if (options.utun === 'EPERM') throw utunError('connect(sockaddr_ctl)', 1);
      utuns.opened++;
      let closed = false;
      return {
        name: 'utun4',
        close: () => {
          if (!closed) utuns.closed++;
          closed = true;
        },
      };
    },
  });
  return { backend, commands, utuns };
}

test('ensureInterface makes a utun: gateway as point-to-point alias, up, route for the subnet', async () => {
  const { backend, commands, utuns } = harness();
  const info = await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  assert.deepEqual(info, { name: 'utun4', kind: 'utun', subnet: SUBNET });
  assert.deepEqual(commands, UTUN_SETUP);
  assert.deepEqual(utuns, { opened: 1, closed: 0 }, 'the fd stays open: closing it destroys the utun');
  assert.equal(backend.utunFailure, null);
  // Idempotent: the same subnet changes nothing, whatever the configured name.
  assert.deepEqual(await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET }), info);
  assert.deepEqual(await backend.ensureInterface({ name: 'other0', subnet: SUBNET }), info);
  assert.equal(commands.length, 3);
  assert.equal(utuns.opened, 1);
});

test('without a utun (EPERM) the addresses become lo0 aliases, with no route', async () => {
  const { backend, commands } = harness({ utun: 'EPERM' });
  const info = await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  assert.deepEqual(info, { name: 'lo0', kind: 'loopback-alias', subnet: SUBNET });
  assert.deepEqual(commands, []);
  assert.match(backend.utunFailure?.message ?? '', /connect\(sockaddr_ctl\) failed \(EPERM\)/);
  await backend.setAddresses('lo0', ['10.107.0.2', '10.107.0.3']);
  assert.deepEqual(commands, [loAlias('10.107.0.2'), loAlias('10.107.0.3')]);
  await backend.destroyInterface('lo0');
  assert.deepEqual(commands.slice(2), [loUnalias('10.107.0.2'), loUnalias('10.107.0.3')]);
});

test('setAddresses converges: add 3, then reduce to 1 is exactly 2 removes, then nothing', async () => {
  const { backend, commands } = harness();
  await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  commands.length = 0;
  await backend.setAddresses('utun4', ['10.107.0.2', '10.107.0.3', '10.107.0.4', '10.107.0.3']);
  assert.deepEqual(commands, [utunAlias('10.107.0.2'), utunAlias('10.107.0.3'), utunAlias('10.107.0.4')]);
  commands.length = 0;
  await backend.setAddresses('utun4', ['10.107.0.3']);
  assert.deepEqual(commands, [utunUnalias('10.107.0.2'), utunUnalias('10.107.0.4')]);
  commands.length = 0;
  await backend.setAddresses('utun4', ['10.107.0.3']);
  assert.deepEqual(commands, []);
});

test('concurrent setAddresses calls are applied one after the other', async () => {
  const { backend, commands } = harness();
  await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  commands.length = 0;
  await Promise.all([
    backend.setAddresses('utun4', ['10.107.0.2', '10.107.0.3']),
    backend.setAddresses('utun4', ['10.107.0.3', '10.107.0.4']),
  ]);
  assert.deepEqual(commands, [
    utunAlias('10.107.0.2'),
    utunAlias('10.107.0.3'),
    utunUnalias('10.107.0.2'),
    utunAlias('10.107.0.4'),
  ]);
});

test('destroyInterface removes the aliases, the route and the gateway, then closes the utun', async () => {
  const { backend, commands, utuns } = harness();
  await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  await backend.setAddresses('utun4', ['10.107.0.9']);
  commands.length = 0;
  await backend.destroyInterface('utun4');
  assert.deepEqual(commands, [
    utunUnalias('10.107.0.9'),
    [ROUTE, '-n', 'delete', '-net', SUBNET, '-interface', 'utun4'],
    utunUnalias('10.107.0.1'),
  ]);
  assert.deepEqual(utuns, { opened: 1, closed: 1 });
  await backend.destroyInterface('utun4');
  assert.equal(commands.length, 3, 'idempotent');
  // The configured name (as removeLeftovers passes it) works too; other names are not ours.
  await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  commands.length = 0;
  await backend.destroyInterface('en0');
  assert.deepEqual(commands, []);
  await backend.destroyInterface('ngrokd0');
  assert.equal(commands.length, 2);
  assert.deepEqual(utuns, { opened: 2, closed: 2 });
});

test('a new subnet replaces the utun', async () => {
  const { backend, commands, utuns } = harness();
  await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  commands.length = 0;
  await backend.ensureInterface({ name: 'ngrokd0', subnet: '10.108.0.0/24' });
  assert.deepEqual(commands, [
    [ROUTE, '-n', 'delete', '-net', SUBNET, '-interface', 'utun4'],
    utunUnalias('10.107.0.1'),
    utunAlias('10.108.0.1'),
    [IFCONFIG, 'utun4', 'up'],
    [ROUTE, '-n', 'add', '-net', '10.108.0.0/24', '-interface', 'utun4'],
  ]);
  assert.deepEqual(utuns, { opened: 2, closed: 1 });
});

test('a failing command is HELPER_ERROR naming it and its stderr; a failed setup leaves no utun', async () => {
  const { backend, utuns } = harness({
    failWhen: (argv) => (argv[0] === ROUTE ? 'add net 10.107.0.0: gateway utun4: File exists' : null),
  });
  await assert.rejects(backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET }), {
    code: 'HELPER_ERROR',
    message: /command "\/sbin\/route -n add -net 10\.107\.0\.0\/16 -interface utun4" failed: .*File exists/,
  });
  assert.deepEqual(utuns, { opened: 1, closed: 1 });
  await assert.rejects(backend.setAddresses('utun4', []), /before the interface is set up/);
});

test('a failed add stops the diff and keeps what was applied; a vanished alias counts as removed', async () => {
  let refuse = '10.107.0.3';
  const { backend, commands } = harness({
    failWhen: (argv) => {
      if (argv.includes(refuse) && argv.includes('alias'))
        return 'ifconfig: ioctl (SIOCAIFADDR): No buffer space';
      if (argv.includes('-alias')) return "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address";
      return null;
    },
  });
  await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  commands.length = 0;
  await assert.rejects(backend.setAddresses('utun4', ['10.107.0.2', '10.107.0.3', '10.107.0.4']), {
    code: 'HELPER_ERROR',
    message: /ifconfig utun4 inet 10\.107\.0\.3 .*No buffer space/,
  });
  assert.equal(commands.length, 2);
  refuse = 'none';
  commands.length = 0;
  await backend.setAddresses('utun4', ['10.107.0.3']);
  assert.deepEqual(commands, [utunUnalias('10.107.0.2'), utunAlias('10.107.0.3')]);
});

test('hostile input is rejected before any command runs', async () => {
  const { backend, commands, utuns } = harness();
  await assert.rejects(backend.ensureInterface({ name: 'ngrokd0;reboot', subnet: SUBNET }), {
    code: 'CONFIG_INVALID',
  });
  await assert.rejects(backend.ensureInterface({ name: 'ngrokd0', subnet: '10.107.0.0/16 -interface en0' }), {
    code: 'SUBNET_INVALID',
  });
  assert.equal(utuns.opened, 0);
  await backend.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  commands.length = 0;
  const bad: [string, RegExp][] = [
    ['10.107.0.5;reboot', /"10\.107\.0\.5;reboot" is not a valid IPv4/],
    ['-alias', /"-alias" is not a valid IPv4/],
    ['10.107.0.05', /leading zero/],
    ['10.107.0.5 ', /is not a valid IPv4/],
    ['10.108.0.5', /10\.108\.0\.5 is not a usable address of 10\.107\.0\.0\/16/],
    ['10.107.0.1', /10\.107\.0\.1 is not a usable address/],
    ['10.107.0.0', /10\.107\.0\.0 is not a usable address/],
    ['10.107.255.255', /10\.107\.255\.255 is not a usable address/],
  ];
  for (const [ip, message] of bad) {
    // A valid address first: nothing may run before the whole list is checked.
    await assert.rejects(backend.setAddresses('utun4', ['10.107.0.2', ip]), {
      code: 'SUBNET_INVALID',
      message,
    });
  }
  await assert.rejects(backend.setAddresses('en0', ['10.107.0.2']), {
    code: 'HELPER_ERROR',
    message: /"en0" is not the helper's interface \(utun4\)/,
  });
  await assert.rejects(backend.destroyInterface('utun4 -alias'), { code: 'CONFIG_INVALID' });
  assert.deepEqual(commands, []);
});

test('platformBackend gives darwin the macOS backend, created without touching anything', () => {
  assert.ok(platformBackend('darwin') instanceof MacosBackend);
  assert.throws(() => platformBackend('win32'), { code: 'HELPER_ERROR' });
});

// --- Through RootOps: the DNS cache flush after a hosts change --------------------------------------

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-macos-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function hostsFile(): string {
  const path = join(dir, `hosts-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, '127.0.0.1 localhost\n');
  return path;
}

test('RootOps flushes the DNS cache after a hosts change that wrote something, and only then', async () => {
  const { backend, commands } = harness();
  const hostsPath = hostsFile();
  const ops = new RootOps({ hostsPath, backend });
  await ops.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  await ops.setAddresses(['10.107.0.2']);
  commands.length = 0;
  const entries = [{ ip: '10.107.0.2', hostname: 'my-api.ngrok.app' }];
  assert.deepEqual(await ops.setHosts(entries), { changed: true });
  assert.match(readFileSync(hostsPath, 'utf8'), /10\.107\.0\.2 my-api\.ngrok\.app/);
  assert.deepEqual(commands, FLUSH);
  assert.deepEqual(await ops.setHosts(entries), { changed: false });
  assert.deepEqual(commands, FLUSH, 'no flush when nothing was written');
  // Re-asserting the same interface (the utun is not called ngrokd0) keeps what was published.
  await ops.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  assert.deepEqual(commands, FLUSH);
  // Removing the section (crash cleanup) is a change too.
  await ops.clearEndpoints();
  assert.equal(readFileSync(hostsPath, 'utf8'), '127.0.0.1 localhost\n');
  assert.deepEqual(commands.slice(2), [...FLUSH, utunUnalias('10.107.0.2')]);
  await ops.clearEndpoints();
  assert.equal(commands.length, 5, 'nothing left to remove, nothing to flush');
  await ops.teardown();
});

test('a failed flush is reported after the other flush command still ran', async () => {
  const { backend, commands } = harness({
    failWhen: (argv) => (argv[0] === '/usr/bin/dscacheutil' ? 'dscacheutil: error' : null),
  });
  const ops = new RootOps({ hostsPath: hostsFile(), backend });
  await ops.ensureInterface({ name: 'ngrokd0', subnet: SUBNET });
  commands.length = 0;
  await assert.rejects(ops.setHosts([{ ip: '10.107.0.2', hostname: 'web.prod' }]), {
    code: 'HELPER_ERROR',
    message: /dscacheutil -flushcache" failed: .*dscacheutil: error/,
  });
  assert.deepEqual(commands, FLUSH);
});

test('uninstall cleanup flushes only when it removed a section', async () => {
  const { backend, commands } = harness();
  const hostsPath = hostsFile();
  await removeLeftovers({ interfaceName: 'ngrokd0', hostsPath, backend });
  assert.deepEqual(commands, []);
  writeFileSync(
    hostsPath,
    '127.0.0.1 localhost\n# BEGIN ngrokd managed section\n10.107.0.2 web.prod\n# END ngrokd managed section\n',
  );
  await removeLeftovers({ interfaceName: 'ngrokd0', hostsPath, backend });
  assert.equal(readFileSync(hostsPath, 'utf8'), '127.0.0.1 localhost\n');
  assert.deepEqual(commands, FLUSH);
});
