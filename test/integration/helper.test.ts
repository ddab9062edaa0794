/**
 * The privileged helper, for real: root, a network namespace of its own (`unshare -n`), a temp
 * hosts file, the daemon (helper/main.ts) and the app client as an unprivileged uid (setpriv).
 * The scenario runs once in a child process (netns/helper-scenario.ts); each test checks one promise.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pkg from '../../package.json' with { type: 'json' };
import { HELPER_PROTOCOL_VERSION } from '../../helper/protocol.ts';
import { ALLOWED_UID, OTHER_UID, SCENARIO_HOSTS, SCENARIO_INTERFACE } from './netns/helper-fixture.ts';
import { runNetnsScenario } from '../support/netns-scenario.ts';
import { rootOnly } from '../support/root-only.ts';

const skip = rootOnly('it creates an interface and binds port 80 inside `unshare -n`');

const SCENARIO = fileURLToPath(new URL('./netns/helper-scenario.ts', import.meta.url));

interface Observation {
  hosts: string;
  addresses: string[];
  interfaceExists: boolean;
}

interface Results {
  error?: string;
  userLines: string;
  ready: {
    uid: number;
    helper: { version: string; protocol: number; hostsPath: string; compatible: boolean };
    interface: { name: string; kind: string; subnet: string };
    hostsChanged: boolean;
    port: number;
    address: { address: string; port: number };
    directBind: string;
    unmanagedListen: { code: string; message: string };
  };
  afterSetup: Observation;
  throughPort80: string;
  stranger: { uid: number; error?: { code: string; message: string } };
  refusalLogged: boolean;
  probe: { helper?: { version: string } };
  fuzz: {
    frames: number;
    invalidReplies: number;
    invalidOk: number;
    invalidCodes: string[];
    oversize: string[][];
  };
  helperAliveAfterFuzz: boolean;
  takeoversDuringFuzz: number;
  helloAfterFuzz: { version: string; protocol: number };
  throughPort80AfterFuzz: string;
  afterHelperStop: Observation;
  afterHelperRestart: { held: boolean; value: Observation };
  throughPort80AfterRestart: string;
  afterAppCrash: { held: boolean; value: Observation };
}

let dir: string;
let results: Results;

function requireTool(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
  assert.ok(found, `the helper tests need \`${name}\` (util-linux / iproute2); install it`);
}

before(async () => {
  if (skip !== false) return;
  assert.equal(
    process.getuid?.(),
    0,
    'the helper tests must run as root: they create an interface and bind port 80 inside `unshare -n`',
  );
  for (const tool of ['unshare', 'setpriv', 'ip']) requireTool(tool);
  ({ dir, results } = await runNetnsScenario<Results>(SCENARIO, 'ngrokd-helper-'));
});

const ips = (o: Observation) => o.addresses.map((a) => a.split('/')[0]).sort();
const section = [
  '# BEGIN ngrokd managed section',
  ...SCENARIO_HOSTS.map((h) => `${h.ip} ${h.hostname}`),
  '# END ngrokd managed section',
  '',
].join('\n');

test('the handshake tells the app the helper version, protocol and hosts file', { skip }, () => {
  assert.deepEqual(results.ready.helper, {
    version: pkg.version,
    protocol: HELPER_PROTOCOL_VERSION,
    hostsPath: join(dir, 'hosts'),
    compatible: true,
  });
});

test(
  'ensureInterface creates a local-only interface (the fallback kind where the kernel has no dummy)',
  { skip },
  () => {
    assert.equal(results.ready.interface.name, SCENARIO_INTERFACE.name);
    assert.equal(results.ready.interface.subnet, SCENARIO_INTERFACE.subnet);
    assert.ok(['dummy', 'bridge'].includes(results.ready.interface.kind), results.ready.interface.kind);
    assert.equal(results.afterSetup.interfaceExists, true);
  },
);

test('setAddresses puts exactly the endpoint addresses (and the gateway) on the interface', { skip }, () => {
  assert.deepEqual(ips(results.afterSetup), ['10.107.0.1', '10.107.0.2', '10.107.0.3']);
});

test(
  'setHosts writes the managed section into the temp hosts file and keeps every user line',
  { skip },
  () => {
    assert.equal(results.ready.hostsChanged, true);
    assert.equal(results.afterSetup.hosts, results.userLines + section);
  },
);

test(
  'an unprivileged client listens on ip:80 through the fd the helper passed, and a real connection reaches it',
  { skip },
  () => {
    assert.equal(results.ready.uid, ALLOWED_UID);
    assert.equal(results.ready.directBind, 'EACCES', 'the client itself cannot bind port 80');
    assert.equal(results.ready.port, 80);
    assert.deepEqual(
      { ...results.ready.address, family: undefined },
      { address: '10.107.0.2', port: 80, family: undefined },
    );
    assert.equal(results.throughPort80, `served by uid ${ALLOWED_UID}\n`);
  },
);

test('the helper binds only addresses it manages', { skip }, () => {
  assert.equal(results.ready.unmanagedListen.code, 'LISTEN_FAILED');
  assert.match(results.ready.unmanagedListen.message, /10\.107\.0\.9 is not an endpoint address/);
});

test('a client running as another uid is refused, and the refusal is logged', { skip }, () => {
  assert.equal(results.stranger.uid, OTHER_UID);
  assert.equal(results.stranger.error?.code, 'HELPER_ERROR');
  assert.match(results.stranger.error?.message ?? '', new RegExp(`uid ${OTHER_UID}`));
  assert.equal(results.refusalLogged, true);
  assert.equal(results.probe.helper?.version, pkg.version, 'the allowed uid may still say hello');
});

test('thousands of fuzzed frames get error replies or a closed connection, never a crash', { skip }, () => {
  const fuzz = results.fuzz;
  assert.ok(fuzz.frames >= 2000, `${fuzz.frames} frames`);
  assert.equal(fuzz.invalidReplies, 2000, 'every invalid request in the burst got its own reply');
  assert.equal(fuzz.invalidOk, 0);
  assert.deepEqual(fuzz.invalidCodes, ['PROTOCOL_ERROR']);
  assert.deepEqual(fuzz.oversize, [['PROTOCOL_ERROR'], ['PROTOCOL_ERROR'], ['PROTOCOL_ERROR']]);
  assert.equal(results.helperAliveAfterFuzz, true);
  assert.equal(results.takeoversDuringFuzz, 0, 'no invalid request took control from the app');
  assert.equal(results.helloAfterFuzz.version, pkg.version);
  assert.equal(results.throughPort80AfterFuzz, `served by uid ${ALLOWED_UID}\n`);
});

test(
  'a stopped helper removes its state, and the app re-asserts all of it when the helper is back',
  { skip },
  () => {
    assert.equal(results.afterHelperStop.hosts, results.userLines);
    assert.deepEqual(ips(results.afterHelperStop), []);
    assert.equal(results.afterHelperStop.interfaceExists, false, 'SIGTERM removes the interface too');
    assert.equal(results.afterHelperRestart.held, true, JSON.stringify(results.afterHelperRestart.value));
    assert.equal(results.afterHelperRestart.value.hosts, results.userLines + section);
    assert.deepEqual(ips(results.afterHelperRestart.value), ['10.107.0.1', '10.107.0.2', '10.107.0.3']);
    assert.equal(
      results.throughPort80AfterRestart,
      `served by uid ${ALLOWED_UID}\n`,
      'the passed socket outlives the helper',
    );
  },
);

test(
  'after the app is killed and the grace period passes, the hosts section, the addresses and the interface are gone',
  { skip },
  () => {
    assert.equal(results.afterAppCrash.held, true, JSON.stringify(results.afterAppCrash.value));
    assert.equal(results.afterAppCrash.value.hosts, results.userLines);
    assert.deepEqual(ips(results.afterAppCrash.value), []);
    assert.equal(results.afterAppCrash.value.interfaceExists, false);
  },
);
