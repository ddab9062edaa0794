import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Ipam } from '../../../main/engine/ipam.ts';
import { contains, isReserved, parseCidr, parseIpv4 } from '../../../main/common/subnet.ts';

const root = await mkdtemp(join(tmpdir(), 'ngrokd-ipam-'));
after(() => rm(root, { recursive: true, force: true }));

let counter = 0;
async function stateDir(): Promise<string> {
  const dir = join(root, `case-${++counter}`);
  await mkdir(dir);
  return dir;
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

const hosts = (n: number, prefix = 'svc') => Array.from({ length: n }, (_, i) => `${prefix}-${i}.prod`);

test('a /16 hands out 65,533 distinct addresses, none reserved, then reports exhaustion', async () => {
  const path = join(await stateDir(), 'ip_mappings.json');
  const ipam = await Ipam.open({ subnet: '10.107.0.0/16', path });
  const subnet = parseCidr('10.107.0.0/16');
  const names = hosts(65_533);
  const mapping = ipam.assign(names);
  assert.equal(mapping.size, 65_533);
  const seen = new Set<number>();
  for (const ip of mapping.values()) {
    const n = parseIpv4(ip);
    assert.ok(n !== null && contains(subnet, n) && !isReserved(subnet, n), ip);
    seen.add(n);
  }
  assert.equal(seen.size, 65_533);

  assert.throws(() => ipam.assign([...names, 'one-more.prod']), {
    code: 'SUBNET_EXHAUSTED',
    message: /10\.107\.0\.0\/16 has 65533 usable addresses but 65534 endpoints/,
  });
  assert.equal(ipam.lookup('one-more.prod'), undefined, 'a failed assign changes nothing');
  assert.equal(ipam.mappings().size, 65_533);
  assert.equal(await ipam.save(), true);
  const reopened = await Ipam.open({ subnet: '10.107.0.0/16', path });
  assert.deepEqual(reopened.mappings(), ipam.mappings());
});

test('mappings round-trip through ip_mappings.json ({"hostname": "ip"}, mode 0600), written only on change', async () => {
  const path = join(await stateDir(), 'ip_mappings.json');
  const ipam = await Ipam.open({ subnet: '10.107.0.0/16', path });
  assert.equal(await ipam.save(), false, 'nothing to write yet');
  await assert.rejects(stat(path), { code: 'ENOENT' });

  const first = ipam.assign(['web.prod', 'API.prod', 'web.prod']);
  assert.deepEqual(
    [...first],
    [
      ['web.prod', '10.107.0.2'],
      ['api.prod', '10.107.0.3'],
    ],
  );
  assert.equal(await ipam.save(), true);
  assert.deepEqual(await readJson(path), { 'web.prod': '10.107.0.2', 'api.prod': '10.107.0.3' });
  assert.equal((await stat(path)).mode & 0o777, 0o600);

  const before = await stat(path);
  ipam.assign(['api.prod', 'web.prod']);
  assert.equal(await ipam.save(), false, 'same mapping: no write');
  const afterSave = await stat(path);
  assert.equal(afterSave.ino, before.ino);
  assert.equal(afterSave.mtimeMs, before.mtimeMs);

  const reopened = await Ipam.open({ subnet: '10.107.0.0/16', path });
  assert.deepEqual(reopened.report, { warnings: [], remapped: 0, corruptCopy: null });
  assert.deepEqual(
    [...reopened.assign(['api.prod', 'web.prod', 'db.prod'])],
    [
      ['api.prod', '10.107.0.3'],
      ['web.prod', '10.107.0.2'],
      ['db.prod', '10.107.0.4'],
    ],
  );
  assert.equal(reopened.lookup('WEB.prod'), '10.107.0.2');
  assert.equal(await reopened.save(), true);
  assert.deepEqual(await readJson(path), {
    'web.prod': '10.107.0.2',
    'api.prod': '10.107.0.3',
    'db.prod': '10.107.0.4',
  });
});

test('a hostname that comes back gets its old IP, also after a restart', async () => {
  const path = join(await stateDir(), 'ip_mappings.json');
  const ipam = await Ipam.open({ subnet: '10.107.0.0/16', path });
  const original = ipam.assign(['a.prod', 'b.prod']);
  const gone = ipam.assign(['b.prod', 'c.prod']);
  assert.equal(gone.has('a.prod'), false);
  assert.equal(ipam.lookup('a.prod'), original.get('a.prod'), 'kept while the endpoint is gone');
  await ipam.save();

  const reopened = await Ipam.open({ subnet: '10.107.0.0/16', path });
  const back = reopened.assign(['c.prod', 'a.prod', 'b.prod']);
  assert.equal(back.get('a.prod'), original.get('a.prod'));
  assert.equal(back.get('b.prod'), original.get('b.prod'));
  assert.equal(back.get('c.prod'), gone.get('c.prod'));
});

test('when the subnet is full, mappings of unwanted hostnames are reclaimed oldest first', async () => {
  const path = join(await stateDir(), 'ip_mappings.json');
  // A /29 has 8 addresses: 5 usable (.2 - .6).
  const ipam = await Ipam.open({ subnet: '10.9.0.0/29', path });
  const five = ipam.assign(hosts(5, 'h'));
  assert.deepEqual([...five.values()], ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);

  const reclaimed = ipam.assign(['new.prod', 'h-2.prod']);
  assert.equal(reclaimed.get('new.prod'), '10.9.0.2', 'took the oldest mapping (h-0)');
  assert.equal(ipam.lookup('h-0.prod'), undefined);
  assert.equal(ipam.lookup('h-1.prod'), '10.9.0.3');

  // h-1 is now the oldest mapping but wanted, so h-0 must take h-2's address instead.
  const next = ipam.assign(['h-0.prod', 'h-1.prod', 'new.prod']);
  assert.equal(next.get('h-1.prod'), '10.9.0.3');
  assert.equal(next.get('h-0.prod'), '10.9.0.4');
  assert.equal(ipam.lookup('h-2.prod'), undefined);
  assert.deepEqual([...ipam.mappings().keys()], ['h-1.prod', 'h-3.prod', 'h-4.prod', 'new.prod', 'h-0.prod']);

  assert.throws(() => ipam.assign(hosts(6, 'x')), {
    code: 'SUBNET_EXHAUSTED',
    message: /10\.9\.0\.0\/29 has 5 usable addresses but 6 endpoints/,
  });
  assert.equal(ipam.mappings().size, 5);
});

test('a subnet change remaps every hostname, keeping host offsets where possible', async () => {
  const path = join(await stateDir(), 'ip_mappings.json');
  await writeFile(
    path,
    JSON.stringify({
      'a.prod': '10.107.3.4',
      'b.prod': '10.107.255.255',
      'c.prod': '10.107.9.9',
      'd.prod': '10.108.9.9',
    }),
  );
  const ipam = await Ipam.open({ subnet: '127.107.0.0/16', path });
  assert.equal(ipam.report.remapped, 4);
  assert.deepEqual(Object.fromEntries(ipam.mappings()), {
    'a.prod': '127.107.3.4',
    'c.prod': '127.107.9.9',
    'b.prod': '127.107.0.2',
    'd.prod': '127.107.0.3',
  });
  assert.equal(await ipam.save(), true, 'a remap is written');
  const reopened = await Ipam.open({ subnet: '127.107.0.0/16', path });
  assert.equal(reopened.report.remapped, 0);
  assert.equal(reopened.lookup('a.prod'), '127.107.3.4');

  // Into a smaller subnet: the offset is taken modulo its size.
  const small = await Ipam.open({ subnet: '10.200.0.0/24', path });
  assert.equal(small.lookup('a.prod'), '10.200.0.4');
  assert.equal(small.lookup('c.prod'), '10.200.0.9');
});

test('a remap that does not fit drops the extra mappings with a warning', async () => {
  const path = join(await stateDir(), 'ip_mappings.json');
  await writeFile(
    path,
    JSON.stringify(Object.fromEntries(hosts(7, 'r').map((h, i) => [h, `10.1.0.${i + 2}`]))),
  );
  const ipam = await Ipam.open({ subnet: '10.2.0.0/29', path });
  assert.equal(ipam.mappings().size, 5);
  assert.equal(ipam.report.warnings.length, 2);
  assert.match(ipam.report.warnings[0] ?? '', /no room left in 10\.2\.0\.0\/29/);
});

test('a corrupt mappings file is kept aside and ngrokd starts fresh', async () => {
  for (const content of ['{"web.prod": "10.107.0.2"', '', '[]', 'null', '"10.107.0.2"']) {
    const dir = await stateDir();
    const path = join(dir, 'ip_mappings.json');
    await writeFile(path, content);
    const ipam = await Ipam.open({
      subnet: '10.107.0.0/16',
      path,
      now: () => new Date('2025-01-02T03:04:05.678Z'),
    });
    const copy = `${path}.corrupt-2025-01-02T03-04-05-678Z`;
    assert.equal(ipam.report.corruptCopy, copy);
    assert.equal(await readFile(copy, 'utf8'), content);
    assert.deepEqual(await readdir(dir), ['ip_mappings.json.corrupt-2025-01-02T03-04-05-678Z']);
    assert.equal(ipam.mappings().size, 0);
    assert.match(ipam.report.warnings[0] ?? '', /moved it to/);
    assert.equal(ipam.assign(['web.prod']).get('web.prod'), '10.107.0.2');
  }
});

test('hostile entries are dropped with a warning each, never a crash', async () => {
  const path = join(await stateDir(), 'ip_mappings.json');
  const hostile =
    '{"__proto__": "10.107.0.5", "evil\\nhost.prod": "10.107.0.6", "sp ace.prod": "10.107.0.6",' +
    ' "num.prod": 12, "obj.prod": {"ip": "10.107.0.8"}, "net.prod": "10.107.0.0", "gw.prod": "10.107.0.1",' +
    ' "bcast.prod": "10.107.255.255", "bad.prod": "999.1.1.1", "v6.prod": "fd00::1", "lead.prod": "10.107.0.09",' +
    ' "first.prod": "10.107.0.7", "second.prod": "10.107.0.7", "Case.prod": "10.107.0.10", "case.prod": "10.107.0.11",' +
    ` "${'x'.repeat(100_000)}.prod": "10.107.0.12", "ok.prod": "10.107.0.9"}`;
  await writeFile(path, hostile);
  const ipam = await Ipam.open({ subnet: '10.107.0.0/16', path });
  assert.deepEqual(Object.fromEntries(ipam.mappings()), {
    'first.prod': '10.107.0.7',
    'case.prod': '10.107.0.10',
    'ok.prod': '10.107.0.9',
  });
  assert.equal(ipam.report.warnings.length, 14);
  assert.ok(ipam.report.warnings.every((w) => w.length < 300 && !w.includes('\n')));
  assert.ok(ipam.report.warnings.some((w) => /"__proto__": not a valid hostname/.test(w)));
  assert.ok(ipam.report.warnings.some((w) => /second\.prod: 10\.107\.0\.7 is already mapped/.test(w)));
  assert.ok(ipam.report.warnings.some((w) => /gw\.prod: 10\.107\.0\.1 is reserved/.test(w)));
  assert.equal(Object.getPrototypeOf(Object.fromEntries(ipam.mappings())), Object.prototype);
  assert.equal(await ipam.save(), true, 'the cleaned file is written back');
  assert.deepEqual(Object.keys((await readJson(path)) as object), ['first.prod', 'case.prod', 'ok.prod']);
});

test('invalid hostnames are refused without changing anything', async () => {
  const ipam = await Ipam.open({ subnet: '10.107.0.0/16', path: join(await stateDir(), 'm.json') });
  assert.throws(() => ipam.assign(['ok.prod', 'bad host.prod']), {
    code: 'HOSTNAME_INVALID',
    message: /"bad host\.prod"/,
  });
  assert.equal(ipam.mappings().size, 0);
});

test('state directory problems are reported as STATE_DIR', async () => {
  const dir = await stateDir();
  const missing = await Ipam.open({
    subnet: '10.107.0.0/16',
    path: join(dir, 'missing', 'ip_mappings.json'),
  });
  missing.assign(['web.prod']);
  await assert.rejects(missing.save(), { code: 'STATE_DIR', message: /missing\/ip_mappings\.json/ });
  await assert.rejects(Ipam.open({ subnet: '10.107.0.0/16', path: dir }), { code: 'STATE_DIR' });
  await assert.rejects(Ipam.open({ subnet: '10.107.0.1/16', path: join(dir, 'x.json') }), {
    code: 'SUBNET_INVALID',
  });
});
