/**
 * The subnet a root daemon uses when net.subnet is not set (ipam.ts, chooseSubnet): the candidate
 * list, the first free one, and the choice kept in the state directory so addresses never move.
 * Conflicts come from a stand-in for PrivilegedOps.checkNetwork.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SUBNET, SUBNET_CANDIDATES } from '../../../main/common/defaults.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { overlaps, parseCidr, parsePrivateCidr } from '../../../main/common/subnet.ts';
import { chooseSubnet, firstFreeSubnet, SUBNET_CHOICE_FILE } from '../../../main/engine/ipam.ts';

function conflictFor(taken: readonly string[]) {
  const asked: string[] = [];
  const conflict = async (subnet: string): Promise<UserFacingError | null> => {
    asked.push(subnet);
    const hit = taken.find((t) => overlaps(parseCidr(t), parseCidr(subnet)));
    return hit === undefined
      ? null
      : {
          code: 'SUBNET_CONFLICT',
          message: `net.subnet ${subnet} overlaps ${hit} (a route via interface "tun0")`,
          fix: 'x',
        };
  };
  return { conflict, asked };
}

function stateDir(): string {
  return mkdtempSync(join(tmpdir(), 'ngrokd-subnet-choice-'));
}

function options(dir: string, taken: readonly string[]) {
  return {
    fallback: DEFAULT_SUBNET,
    stateDir: dir,
    mappingsPath: join(dir, 'ip_mappings.json'),
    candidates: SUBNET_CANDIDATES,
    conflict: conflictFor(taken).conflict,
    now: () => new Date('2030-01-02T03:04:05.000Z'),
  };
}

test('the candidates: the default first, all private and disjoint, none in 100.64.0.0/10', () => {
  assert.equal(SUBNET_CANDIDATES[0], DEFAULT_SUBNET);
  assert.ok(SUBNET_CANDIDATES.length >= 4);
  const cgnat = parseCidr('100.64.0.0/10');
  const parsed = SUBNET_CANDIDATES.map((c) => parsePrivateCidr(c, 'candidate'));
  for (const [i, subnet] of parsed.entries()) {
    assert.equal(subnet.cidr, SUBNET_CANDIDATES[i], 'written canonically');
    assert.ok(!overlaps(subnet, cgnat), `${subnet.cidr} must stay clear of Tailscale and CGNAT`);
    for (const other of parsed.slice(i + 1))
      assert.ok(!overlaps(subnet, other), `${subnet.cidr} and ${other.cidr} overlap`);
  }
});

test('firstFreeSubnet: the first candidate nothing overlaps, in order; null when all are taken', async () => {
  const { conflict, asked } = conflictFor(['10.107.128.0/17', '10.108.0.0/15']);
  assert.equal(await firstFreeSubnet(SUBNET_CANDIDATES, conflict), '172.29.0.0/16');
  assert.deepEqual(asked, ['10.107.0.0/16', '10.108.0.0/16', '10.109.0.0/16', '172.29.0.0/16']);
  assert.equal(
    await firstFreeSubnet(
      SUBNET_CANDIDATES,
      conflictFor(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']).conflict,
    ),
    null,
  );
});

test('a free default is used as is, and nothing is written', async () => {
  const dir = stateDir();
  const decision = await chooseSubnet(options(dir, ['192.168.1.0/24']));
  assert.deepEqual(decision, { subnet: DEFAULT_SUBNET, choice: null, notes: [] });
  assert.equal(existsSync(join(dir, SUBNET_CHOICE_FILE)), false);
});

test('a conflicting default at the first start: the next free candidate, saved and kept on later starts', async () => {
  const dir = stateDir();
  const first = await chooseSubnet(options(dir, ['10.107.0.0/16']));
  const path = join(dir, SUBNET_CHOICE_FILE);
  assert.equal(first.subnet, '10.108.0.0/16');
  assert.deepEqual(first.choice, {
    subnet: '10.108.0.0/16',
    instead_of: DEFAULT_SUBNET,
    reason: 'net.subnet 10.107.0.0/16 overlaps 10.107.0.0/16 (a route via interface "tun0")',
    at: '2030-01-02T03:04:05.000Z',
    saved_in: path,
  });
  assert.match(first.notes.join('\n'), /10\.108\.0\.0\/16 is used instead/);
  const { saved_in: _, ...stored } = first.choice ?? {};
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), stored);

  // The VPN is gone, or something now overlaps the pick: the pick stays (addresses never move).
  for (const taken of [[], ['10.108.0.0/16']]) {
    const again = await chooseSubnet(options(dir, taken));
    assert.equal(again.subnet, '10.108.0.0/16');
    assert.deepEqual(again.choice, first.choice);
    assert.deepEqual(again.notes, []);
  }
});

test('addresses already mapped stay where they are: no pick, the conflict is left to refuse the start', async () => {
  const dir = stateDir();
  writeFileSync(join(dir, 'ip_mappings.json'), '{"my-api.ngrok.app": "10.107.0.2"}\n');
  const decision = await chooseSubnet(options(dir, ['10.107.0.0/16']));
  assert.deepEqual(decision, { subnet: DEFAULT_SUBNET, choice: null, notes: [] });
  // An empty mappings file maps nothing: the pick happens.
  writeFileSync(join(dir, 'ip_mappings.json'), '{}\n');
  assert.equal((await chooseSubnet(options(dir, ['10.107.0.0/16']))).subnet, '10.108.0.0/16');
});

test('every candidate taken: the default (and its SUBNET_CONFLICT) rather than a guess', async () => {
  const dir = stateDir();
  const decision = await chooseSubnet(options(dir, ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']));
  assert.deepEqual(decision, { subnet: DEFAULT_SUBNET, choice: null, notes: [] });
  assert.equal(existsSync(join(dir, SUBNET_CHOICE_FILE)), false);
});

test('a subnet.json that is not a private subnet picked by ngrokd is ignored, with a note', async () => {
  for (const content of ['not json', '{"subnet": "8.8.8.0/24"}', 'null', '{"subnet": 5}']) {
    const dir = stateDir();
    writeFileSync(join(dir, SUBNET_CHOICE_FILE), content);
    const decision = await chooseSubnet(options(dir, []));
    assert.equal(decision.subnet, DEFAULT_SUBNET, content);
    assert.equal(decision.choice, null);
    assert.match(decision.notes[0] ?? '', /ignored .*subnet\.json/, content);
  }
});
