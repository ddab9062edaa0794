/**
 * The Linux interface scenarios. Runs as root inside a private network namespace started by
 * test/main/system/linux/interface.test.ts (`unshare -n node --test <this file>`), so nothing here
 * can touch the machine's own network. Refuses to run anywhere else.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { promisify } from 'node:util';
import { NgrokdError, type ErrorCode } from '../../../main/common/errors.ts';
import { intToIp } from '../../../main/common/subnet.ts';
import { ADDRESSES_LISTED_UP_TO } from '../../../main/common/defaults.ts';
import { localByRoute } from '../../../main/system/interface-state.ts';
import {
  destroyInterface,
  ensureInterface,
  findInterface,
  interfaceExists,
  listAddresses,
  setAddresses,
} from '../../../main/system/linux/interface.ts';
import {
  IFF_UP,
  RTM_NEWADDR,
  RtnetlinkSocket,
  type Ack,
  type NetlinkRequest,
} from '../../../main/system/linux/netlink.ts';

const run = promisify(execFile);
const NAME = 'ngrokd0';
const SUBNET = '10.107.0.0/16';

function rejects(code: ErrorCode, pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof NgrokdError, `expected NgrokdError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

async function linkNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show']);
  return stdout
    .trim()
    .split('\n')
    .map((line) => line.split(': ')[1]?.split('@')[0] ?? '');
}

before(async () => {
  assert.equal(
    process.env.NGROKD_NETNS,
    '1',
    'run this only through test/main/system/linux/interface.test.ts',
  );
  assert.deepEqual(await linkNames(), ['lo'], 'not in a fresh network namespace: refusing to touch it');
  await run('ip', ['link', 'set', 'lo', 'up']);
});

test('invalid interface names are refused before anything is created', () => {
  for (const name of ['', 'bad name', 'a'.repeat(16), '..', 'eth0/1']) {
    assert.throws(
      () => ensureInterface({ name, subnet: SUBNET }),
      rejects('CONFIG_INVALID', /interface name/),
    );
    assert.throws(() => setAddresses(name, []), rejects('CONFIG_INVALID', /interface name/));
    assert.throws(() => destroyInterface(name), rejects('CONFIG_INVALID', /interface name/));
  }
});

test('a subnet overlapping another interface address or route is refused and nothing is left behind', async () => {
  await run('ip', ['link', 'add', 'other0', 'type', 'bridge']);
  await run('ip', ['link', 'set', 'other0', 'up']);
  await run('ip', ['addr', 'add', '10.107.5.1/24', 'dev', 'other0']);
  await run('ip', ['route', 'add', '10.200.0.0/16', 'dev', 'other0']);
  await run('ip', ['route', 'add', 'blackhole', '10.201.0.0/16']);

  assert.throws(
    () => ensureInterface({ name: NAME, subnet: SUBNET }),
    rejects('SUBNET_CONFLICT', /10\.107\.0\.0\/16 overlaps 10\.107\.5\.0\/24 .*"other0"/),
  );
  assert.throws(
    () => ensureInterface({ name: 'ngrokd1', subnet: '10.200.128.0/24' }),
    rejects(
      'SUBNET_CONFLICT',
      /10\.200\.128\.0\/24 overlaps 10\.200\.0\.0\/16 \(a route via interface "other0"\)/,
    ),
  );
  assert.throws(
    () => ensureInterface({ name: 'ngrokd1', subnet: '10.201.0.0/16' }),
    rejects('SUBNET_CONFLICT', /10\.201\.0\.0\/16 \(a route with no interface\)/),
  );
  assert.equal(interfaceExists(NAME), false);
  assert.equal(interfaceExists('ngrokd1'), false);
  // Free 10.107.0.0/16 for the scenarios below; other0 stays as a foreign interface.
  await run('ip', ['addr', 'del', '10.107.5.1/24', 'dev', 'other0']);
  await run('ip', ['addr', 'add', '10.130.5.1/24', 'dev', 'other0']);
});

test('ensureInterface creates an UP local-only link with the gateway, falling back when dummy is missing', async (t) => {
  const dummySupported = await run('ip', ['link', 'add', 'probe0', 'type', 'dummy']).then(
    async () => (await run('ip', ['link', 'del', 'probe0']), true),
    () => false,
  );
  const info = ensureInterface({ name: NAME, subnet: SUBNET });
  t.diagnostic(`dummy supported: ${dummySupported}; kind used: ${info.kind}`);
  assert.deepEqual(info, { name: NAME, kind: dummySupported ? 'dummy' : 'bridge', subnet: SUBNET });
  const link = findInterface(NAME);
  assert.ok(link !== null && (link.flags & IFF_UP) !== 0, 'interface is UP');
  assert.deepEqual(listAddresses(NAME), ['10.107.0.1/16']);
  const { stdout } = await run('ip', ['-d', '-o', 'link', 'show', 'dev', NAME]);
  assert.match(stdout, new RegExp(`\\b${info.kind}\\b`));

  // Idempotent: the same link is adopted, nothing is added twice; its own addresses and routes
  // are not a conflict with itself.
  assert.deepEqual(ensureInterface({ name: NAME, subnet: SUBNET }), info);
  assert.equal(findInterface(NAME)?.index, link.index);
  assert.deepEqual(listAddresses(NAME), ['10.107.0.1/16']);
});

test('a TCP server bound to an endpoint address on the interface is reachable', async () => {
  assert.deepEqual(setAddresses(NAME, ['10.107.0.5']), { added: 1, removed: 0 });
  const server = createServer((socket) => socket.end('hello from 10.107.0.5'));
  server.listen(0, '10.107.0.5');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const client = connect(port, '10.107.0.5');
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(client, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'hello from 10.107.0.5');
  } finally {
    server.close();
  }
});

/** Stop listening and wait until the server is closed, so nothing keeps this process alive. */
async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** How a connection to ip:port ends: the error code, or 'connected'; 'no answer' after 10 s. */
function connectOutcome(ip: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port, timeout: 10_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('no answer');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test('an address of the subnet that nothing listens on is refused at once, on a NOARP (dummy-like) link too', async () => {
  setAddresses(NAME, ['10.107.0.5', '10.107.0.6']);
  const removed = '10.107.0.6';
  setAddresses(NAME, ['10.107.0.5']);
  const outcomes: Record<string, string> = {};
  for (const arp of ['on', 'off']) {
    // arp off models the dummy link production kernels have: nothing would ever answer.
    await run('ip', ['link', 'set', NAME, 'arp', arp]);
    outcomes[`unused port, arp ${arp}`] = await connectOutcome('10.107.0.5', 9);
    outcomes[`removed endpoint, arp ${arp}`] = await connectOutcome(removed, 80);
    outcomes[`never assigned, arp ${arp}`] = await connectOutcome('10.107.200.9', 5432);
  }
  await run('ip', ['link', 'set', NAME, 'arp', 'on']);
  for (const [what, outcome] of Object.entries(outcomes)) assert.equal(outcome, 'ECONNREFUSED', what);
  const { stdout } = await run('ip', ['route', 'show', 'table', 'local', 'dev', NAME]);
  assert.match(stdout, /^local 10\.107\.0\.0\/16 proto static scope host/m);
});

test('up to 1,000 endpoint addresses are added and listed; beyond, the local route alone carries 10,000', async (t) => {
  const ips = Array.from({ length: 10_000 }, (_, i) => intToIp(0x0a6b0000 + 2 + i)); // 10.107.0.2…
  const thousand = ips.slice(0, ADDRESSES_LISTED_UP_TO);
  let started = performance.now();
  assert.deepEqual(setAddresses(NAME, thousand), { added: 999, removed: 0 }); // 10.107.0.5 was there
  t.diagnostic(`adding 999 addresses took ${Math.round(performance.now() - started)} ms`);
  const listed = listAddresses(NAME);
  assert.deepEqual(new Set(listed), new Set(['10.107.0.1/16', ...thousand.map((ip) => `${ip}/16`)]));
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', NAME], { maxBuffer: 64 << 20 });
  assert.equal(stdout.trim().split('\n').length, 1_001, 'ip(8) sees the same count');
  assert.deepEqual(setAddresses(NAME, thousand), { added: 0, removed: 0 });

  // A listener bound while its address is listed keeps working across the switch to the route.
  const early = createServer((socket) => socket.end('still here'));
  early.listen(0, thousand[3] as string);
  await once(early, 'listening');
  started = performance.now();
  assert.deepEqual(setAddresses(NAME, ips.slice(0, ADDRESSES_LISTED_UP_TO + 1)), {
    added: 0,
    removed: 1_000,
  });
  t.diagnostic(`1,001 endpoints: ${Math.round(performance.now() - started)} ms`);
  try {
    const { port } = early.address() as AddressInfo;
    const client = connect(port, thousand[3] as string);
    const got: Buffer[] = [];
    client.on('data', (chunk: Buffer) => got.push(chunk));
    await once(client, 'end');
    client.destroy();
    assert.equal(Buffer.concat(got).toString(), 'still here');
  } finally {
    await closeServer(early);
  }
  // The local route lost (a link down and up drops it): the next pass puts it back.
  await run('ip', ['route', 'del', 'local', SUBNET, 'dev', NAME, 'table', 'local']);
  assert.equal(localByRoute(ips[7] as string, NAME), false);
  started = performance.now();
  assert.deepEqual(setAddresses(NAME, ips), { added: 0, removed: 0 });
  t.diagnostic(`10,000 endpoints (route only) took ${Math.round(performance.now() - started)} ms`);
  assert.deepEqual(listAddresses(NAME), ['10.107.0.1/16'], 'ip addr lists the gateway only');
  // Every one of them still works: bind, connect; one nothing listens on is refused at once.
  const far = ips[9_876] as string;
  const server = createServer((socket) => socket.end(`hello from ${far}`));
  server.listen(0, far);
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const client = connect(port, far);
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(client, 'end');
    client.destroy();
    assert.equal(Buffer.concat(chunks).toString(), `hello from ${far}`);
    assert.equal(await connectOutcome(ips[4_321] as string, port), 'ECONNREFUSED');
  } finally {
    await closeServer(server);
  }
  assert.equal(localByRoute(far, NAME), true, 'doctor sees it as local through the route');
  assert.equal(localByRoute('10.130.5.9', NAME), false);

  assert.deepEqual(setAddresses(NAME, ips.slice(0, 10)), { added: 10, removed: 0 });
  assert.deepEqual(
    new Set(listAddresses(NAME)),
    new Set(['10.107.0.1/16', ...ips.slice(0, 10).map((ip) => `${ip}/16`)]),
  );
  assert.deepEqual(setAddresses(NAME, []), { added: 0, removed: 10 });
  assert.deepEqual(listAddresses(NAME), ['10.107.0.1/16']);
});

test('setAddresses adds only usable addresses of the interface subnet', () => {
  assert.throws(
    () => setAddresses(NAME, ['10.108.0.5']),
    rejects('SUBNET_INVALID', /10\.108\.0\.5.*10\.107\.0\.0\/16/),
  );
  assert.throws(
    () => setAddresses(NAME, ['10.107.0.1']),
    rejects('SUBNET_INVALID', /10\.107\.0\.1 is not a usable/),
  );
  assert.throws(() => setAddresses(NAME, ['10.107.255.255']), rejects('SUBNET_INVALID', /not a usable/));
  assert.throws(() => setAddresses(NAME, ['10.107.0.05']), rejects('SUBNET_INVALID', /leading zero/));
  assert.deepEqual(listAddresses(NAME), ['10.107.0.1/16']);
});

test('an interface ngrokd did not create is neither adopted nor deleted', async () => {
  assert.throws(
    () => ensureInterface({ name: 'other0', subnet: '10.150.0.0/16' }),
    rejects('CONFIG_INVALID', /"other0" already exists and was not created by ngrokd/),
  );
  assert.throws(() => destroyInterface('other0'), rejects('CONFIG_INVALID', /not created by ngrokd/));
  assert.throws(() => setAddresses('other0', []), rejects('CONFIG_INVALID', /not created by ngrokd/));
  assert.ok((await linkNames()).includes('other0'));
  assert.deepEqual(listAddresses('other0'), ['10.130.5.1/24']);
});

/** A real socket whose address changes all fail, as if the kernel refused the gateway. */
class RefusingAddressesSocket extends RtnetlinkSocket {
  override transact(requests: readonly NetlinkRequest[]): Ack[] {
    if (!requests.some((r) => r.type === RTM_NEWADDR)) return super.transact(requests);
    return requests.map(() => ({ errno: 13, kernelMessage: 'injected failure' }));
  }
}

test('a failure after the link was created removes the link again', () => {
  const socket = new RefusingAddressesSocket();
  try {
    assert.throws(
      () => ensureInterface({ name: 'ngrokd2', subnet: '10.120.0.0/16' }, { socket }),
      rejects('HELPER_ERROR', /adding 10\.120\.0\.1\/16 to interface "ngrokd2".*EACCES.*injected failure/),
    );
  } finally {
    socket.close();
  }
  assert.equal(interfaceExists('ngrokd2'), false);
});

test('a changed subnet replaces the gateway and setAddresses converges the endpoints', async () => {
  assert.deepEqual(setAddresses(NAME, ['10.107.0.7', '10.107.0.8']), { added: 2, removed: 0 });
  assert.equal(ensureInterface({ name: NAME, subnet: '10.108.0.0/16' }).subnet, '10.108.0.0/16');
  assert.ok(listAddresses(NAME).includes('10.108.0.1/16'));
  assert.ok(!listAddresses(NAME).includes('10.107.0.1/16'));
  setAddresses(NAME, ['10.108.0.9']);
  assert.deepEqual(listAddresses(NAME), ['10.108.0.1/16', '10.108.0.9/16']);
  const { stdout } = await run('ip', ['route', 'show', 'table', 'local', 'dev', NAME]);
  assert.match(stdout, /^local 10\.108\.0\.0\/16 /m);
  assert.doesNotMatch(stdout, /10\.107\.0\.0\/16/, 'the old subnet is no longer local');
});

test('destroyInterface removes the link and its addresses; a missing one is fine', async () => {
  assert.equal(destroyInterface(NAME), true);
  assert.equal(interfaceExists(NAME), false);
  assert.deepEqual(listAddresses(NAME), []);
  assert.equal(destroyInterface(NAME), false);
  assert.throws(() => setAddresses(NAME, []), rejects('HELPER_ERROR', /"ngrokd0" does not exist/));
  assert.deepEqual((await linkNames()).sort(), ['lo', 'other0']);
});
