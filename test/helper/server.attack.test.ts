/**
 * The privileged helper is no privilege-escalation primitive, even for the user it serves: attacked
 * for real as root inside `unshare -n` (netns/helper-attack.scenario.ts), with the hostile client
 * running as the served uid and a stranger as another uid (setpriv). Each test checks one promise.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runNetnsScenario } from '../support/netns-scenario.ts';
import { rootOnly } from '../support/root-only.ts';

const SCENARIO = fileURLToPath(new URL('../integration/netns/helper-attack.scenario.ts', import.meta.url));

type Reply = { ok: true; result: unknown } | { ok: false; code: string; message: string } | null;
interface Links {
  managed: string[];
  all: string[];
}
interface Refusal {
  exitCode: number | null;
  error: string;
}
interface Results {
  error?: string;
  before: Links;
  refused: Record<
    | 'publicSubnet'
    | 'socketInOpenDir'
    | 'socketInForeignDir'
    | 'hostsInForeignDir'
    | 'hostsInOpenDir'
    | 'hostsSymlinkPlanted'
    | 'userNetConfig'
    | 'openNetConfig',
    Refusal
  >;
  victim: { text: string; mode: number };
  afterStart: Links;
  socketMode: number;
  abuse: Record<string, Reply> & { renames: Reply[] };
  afterAbuse: Links & { hosts: string };
  afterAbuseGrace: { held: boolean; value: Links };
  conflicts: Record<'vpnRoute' | 'splitDefault' | 'policyTable' | 'dockerBridge', Reply>;
  afterConflicts: Links;
  flood: {
    sent: { sent: number; frames: number };
    baseline: { rssKb: number; peakKb: number };
    during: { rssKb: number; peakKb: number };
  };
  crowd: { answered: number; refused: number };
  idle: { hello: boolean; closedByHelper: boolean };
  stranger: { answered: number; refused: number };
  refusalLines: number;
  helperAlive: boolean;
  servesAfterwards: { answered: number };
  beforeSigterm: Links;
  afterSigterm: Links;
  afterTeardown: Links;
}

const skip = rootOnly('the helper attack scenario creates interfaces and runs clients as other uids');
let results: Results;

before(async () => {
  if (skip !== false) return;
  ({ results } = await runNetnsScenario<Results>(SCENARIO, 'ngrokd-attack-'));
});

function refusedWith(reply: Reply | undefined, code: string, pattern: RegExp): void {
  assert.ok(
    reply !== null && reply !== undefined && !reply.ok,
    `expected a refusal, got ${JSON.stringify(reply)}`,
  );
  assert.equal(reply.code, code, reply.message);
  assert.match(reply.message, pattern);
}

test('the helper accepts no public subnet, at start or from its client', { skip }, () => {
  assert.notEqual(results.refused.publicSubnet.exitCode, 0);
  assert.match(results.refused.publicSubnet.error, /8\.8\.8\.0\/24 is not a private range/);
  refusedWith(
    results.abuse.publicSubnet,
    'SUBNET_INVALID',
    /serves interface ngrokd0 with subnet 10\.107\.0\.0\/16/,
  );
  refusedWith(results.abuse.publicSlash30, 'SUBNET_INVALID', /1\.1\.1\.0\/30/);
  assert.ok(!results.afterAbuse.all.some((name) => name.startsWith('evil')));
});

test('the client cannot choose another subnet or interface name than the one root fixed', { skip }, () => {
  refusedWith(results.abuse.otherSubnet, 'SUBNET_INVALID', /asked for ngrokd0 with 10\.108\.0\.0\/16/);
  assert.equal(results.abuse.renames.length, 42);
  for (const reply of results.abuse.renames) refusedWith(reply, 'SUBNET_INVALID', /asked for evil\d+/);
  assert.equal(results.abuse.pinned?.ok, true, JSON.stringify(results.abuse.pinned));
  assert.deepEqual(results.afterAbuse.managed, ['ngrokd0'], 'one interface per helper');
});

test('addresses, hosts lines and listening sockets only inside that subnet', { skip }, () => {
  refusedWith(
    results.abuse.publicAddress,
    'SUBNET_INVALID',
    /8\.8\.8\.8 is not a usable address of 10\.107\.0\.0\/16/,
  );
  refusedWith(
    results.abuse.publicHosts,
    'SUBNET_INVALID',
    /8\.8\.8\.8 for deb\.debian\.org is outside the subnet 10\.107\.0\.0\/16/,
  );
  refusedWith(results.abuse.publicListen, 'LISTEN_FAILED', /8\.8\.8\.8 is not an endpoint address/);
  refusedWith(results.abuse.gatewayListen, 'LISTEN_FAILED', /10\.107\.0\.1 is not an endpoint address/);
  assert.ok(!results.afterAbuse.hosts.includes('8.8.8.8'), results.afterAbuse.hosts);
});

test(
  'a subnet that a VPN, a policy table, a split default route or a Docker bridge already covers is refused',
  { skip },
  () => {
    for (const [name, reply] of Object.entries(results.conflicts)) {
      assert.ok(reply !== null && !reply.ok, `${name}: ${JSON.stringify(reply)}`);
      assert.equal(reply.code, 'SUBNET_CONFLICT', `${name}: ${reply.message}`);
    }
    assert.match((results.conflicts.vpnRoute as { message: string }).message, /10\.107\.128\.0\/17/);
    assert.match((results.conflicts.dockerBridge as { message: string }).message, /docker0/);
    assert.deepEqual(results.afterConflicts.managed, [], 'a refused subnet leaves no interface');
  },
);

test(
  'links ngrokd made under other names are removed at start; other links are never touched',
  { skip },
  () => {
    assert.deepEqual(results.before.managed, ['ngrokdold']);
    assert.deepEqual(results.afterStart.managed, []);
    assert.ok(results.afterStart.all.includes('userbr0'));
  },
);

test(
  'the grace period after the client left, SIGTERM and the uninstall teardown remove every ngrokd link',
  { skip },
  () => {
    assert.equal(results.afterAbuseGrace.held, true, JSON.stringify(results.afterAbuseGrace.value));
    assert.deepEqual(results.beforeSigterm.managed, ['ngrokd0', 'ngrokdx']);
    assert.deepEqual(results.afterSigterm.managed, []);
    assert.deepEqual(results.afterTeardown.managed, []);
    assert.ok(results.afterTeardown.all.includes('userbr0'));
  },
);

test('a client that pipelines 2 MiB and never reads cannot grow the root process', { skip }, () => {
  assert.ok(results.flood.sent.sent >= 2 * 1024 * 1024);
  const grownMb = (results.flood.during.peakKb - results.flood.baseline.rssKb) / 1024;
  assert.ok(grownMb < 64, `the helper grew by ${grownMb.toFixed(0)} MB`);
  assert.equal(results.helperAlive, true);
  assert.equal(results.servesAfterwards.answered, 1);
});

test('one uid gets at most 8 connections, and a quiet one is closed', { skip }, () => {
  assert.equal(results.crowd.answered, 8);
  assert.equal(results.crowd.refused, 12);
  assert.deepEqual(results.idle, { hello: true, closedByHelper: true });
});

test(
  'a stranger hammering the socket is refused every time and logged a bounded number of times',
  { skip },
  () => {
    assert.equal(results.stranger.answered, 0);
    assert.ok(
      results.refusalLines >= 1 && results.refusalLines <= 3,
      `${results.refusalLines} refusal lines`,
    );
  },
);

test(
  'socket and hosts paths in directories other users can write are refused; a planted symlink is not followed',
  { skip },
  () => {
    for (const [name, refusal] of Object.entries(results.refused)) {
      assert.notEqual(refusal.exitCode, 0, `${name} started`);
    }
    assert.match(results.refused.socketInOpenDir.error, /open to other users/);
    assert.match(results.refused.socketInForeignDir.error, /open to other users/);
    assert.match(results.refused.hostsInForeignDir.error, /open to other users/);
    assert.match(results.refused.hostsInOpenDir.error, /open to other users/);
    assert.match(results.refused.hostsSymlinkPlanted.error, /could have been planted by another user/);
    assert.match(results.refused.userNetConfig.error, /open to other users/);
    assert.match(results.refused.openNetConfig.error, /can be written by other users/);
    assert.deepEqual(results.victim, { text: 'root-owned file\n', mode: 0o600 });
    assert.equal(results.socketMode, 0o666, 'created with its mode, not chmod-ed by path');
  },
);
