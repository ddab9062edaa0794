/**
 * RootOps's subnet-conflict checks with the backend replaced by a stand-in that reports a chosen
 * conflict (the rtnetlink rule itself runs as root in test/integration/subnet-conflict.test.ts):
 * who is told to change what, that the helper answers only for its own subnet, and that a conflict
 * refuses ensureInterface before the backend is touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InterfaceSpec } from '../../../main/common/privileged.ts';
import type { NetworkBackend, SubnetConflict } from '../../../main/system/network-backend.ts';
import { HELPER_NET_CONFIG_PATH, RootOps } from '../../../main/system/root-ops.ts';

class ConflictingBackend implements NetworkBackend {
  conflict: SubnetConflict | null = null;
  readonly calls: unknown[][] = [];
  async ensureInterface(spec: InterfaceSpec) {
    this.calls.push(['ensureInterface', spec.subnet]);
    return { name: spec.name, kind: 'bridge' as const, subnet: spec.subnet };
  }
  async setAddresses() {}
  async destroyInterface() {}
  async destroyManagedInterfaces() {
    return [];
  }
  async findSubnetConflict(subnet: string, ownName: string) {
    this.calls.push(['findSubnetConflict', subnet, ownName]);
    return this.conflict === null ? null : { ...this.conflict, subnet };
  }
}

const VPN: SubnetConflict = {
  subnet: '10.107.0.0/16',
  range: '10.107.128.0/17',
  what: 'a route via interface "tun0"',
  free: '10.108.0.0/16',
};
const SPEC = { name: 'ngrokd0', subnet: '10.107.0.0/16' };

function hostsFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ngrokd-rootops-net-')), 'hosts');
  writeFileSync(path, '127.0.0.1 localhost\n');
  return path;
}

test('a root daemon: nothing overlaps is null; a later overlap says what, whose traffic, and the free subnet', async () => {
  const backend = new ConflictingBackend();
  const ops = new RootOps({ hostsPath: hostsFile(), backend });
  assert.equal(await ops.checkNetwork(SPEC), null);
  await ops.ensureInterface(SPEC);
  backend.conflict = VPN;
  const problem = await ops.checkNetwork(SPEC);
  assert.equal(problem?.code, 'SUBNET_CONFLICT');
  assert.match(
    problem?.message ?? '',
    /^net\.subnet 10\.107\.0\.0\/16 overlaps 10\.107\.128\.0\/17 \(a route via interface "tun0"\), which appeared after ngrokd set up ngrokd0: ngrokd keeps serving, so this machine's connections to 10\.107\.128\.0\/17 reach ngrokd instead$/,
  );
  assert.equal(
    problem?.fix,
    'Set net.subnet to 10.108.0.0/16 (free on this machine) and restart ngrokd, or remove what overlaps.',
  );
  assert.ok(problem?.at !== undefined, 'stamped for status');
  assert.deepEqual(backend.calls.at(-1), ['findSubnetConflict', '10.107.0.0/16', 'ngrokd0']);
});

test('a conflict refuses ensureInterface before the backend creates anything; no free subnet says how to find one', async () => {
  const backend = new ConflictingBackend();
  backend.conflict = { ...VPN, free: null };
  const ops = new RootOps({ hostsPath: hostsFile(), backend });
  await assert.rejects(ops.ensureInterface(SPEC), (err: Error & { code?: string; fix?: string }) => {
    assert.equal(err.code, 'SUBNET_CONFLICT');
    assert.equal(
      err.message,
      'net.subnet 10.107.0.0/16 overlaps 10.107.128.0/17 (a route via interface "tun0")',
    );
    assert.match(
      err.fix ?? '',
      /private range that no interface or route on this machine uses .*ip -4 route show table all/,
    );
    return true;
  });
  assert.ok(!backend.calls.some((c) => c[0] === 'ensureInterface'), 'the backend made nothing');
  assert.equal(ops.interface, null);
});

test('the helper: only its pinned subnet is checked, and the fix is for the administrator', async () => {
  const backend = new ConflictingBackend();
  const ops = new RootOps({ hostsPath: hostsFile(), backend, pinned: SPEC });
  backend.conflict = VPN;
  const problem = await ops.checkNetwork(SPEC);
  assert.equal(
    problem?.fix,
    `Have an administrator set "subnet" in ${HELPER_NET_CONFIG_PATH} to 10.108.0.0/16 (free on this machine) and restart the helper, and set net.subnet to the same; or remove what overlaps.`,
  );
  await assert.rejects(ops.ensureInterface(SPEC), { code: 'SUBNET_CONFLICT', fix: problem?.fix });
  await assert.rejects(ops.checkNetwork({ name: 'ngrokd0', subnet: '10.108.0.0/16' }), {
    code: 'SUBNET_INVALID',
  });
  await assert.rejects(ops.checkNetwork({ name: 'other0', subnet: '10.107.0.0/16' }), {
    code: 'SUBNET_INVALID',
  });
  await assert.rejects(ops.checkNetwork({ name: 'bad name', subnet: '10.107.0.0/16' }), {
    code: 'CONFIG_INVALID',
  });
  assert.ok(
    backend.calls.every((c) => c[0] !== 'findSubnetConflict' || c[1] === '10.107.0.0/16'),
    'no other subnet reached the backend',
  );
});

test('a backend that cannot tell (macOS) reports nothing', async () => {
  const backend = new ConflictingBackend();
  const blind: NetworkBackend = {
    ensureInterface: (spec) => backend.ensureInterface(spec),
    setAddresses: async () => undefined,
    destroyInterface: async () => undefined,
    destroyManagedInterfaces: async () => [],
  };
  const ops = new RootOps({ hostsPath: hostsFile(), backend: blind });
  await ops.ensureInterface(SPEC);
  assert.equal(await ops.checkNetwork(SPEC), null);
});
