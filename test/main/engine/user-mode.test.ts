import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UserModeOps } from '../../../main/engine/user-mode.ts';

const root = await mkdtemp(join(tmpdir(), 'ngrokd-user-mode-'));
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await rm(root, { recursive: true, force: true });
});

const missingHosts = join(root, 'no-such-hosts');
function ops(options: ConstructorParameters<typeof UserModeOps>[0] = {}) {
  return new UserModeOps({
    defaultHostsPath: missingHosts,
    isRoot: false,
    unprivilegedPortStart: 1024,
    ...options,
  });
}

async function listen(userMode: UserModeOps, ip: string, port: number) {
  const socket = await userMode.listen(ip, port);
  servers.push(socket.server);
  return socket;
}

test('addresses come from a loopback subnet carried by lo', async () => {
  const userMode = ops();
  assert.equal(userMode.mode, 'user');
  assert.equal(userMode.effectiveSubnet('10.107.0.0/16'), '127.107.0.0/16');
  assert.deepEqual(await userMode.ensureInterface({ name: 'ngrokd0', subnet: '10.107.0.0/16' }), {
    name: 'lo',
    kind: 'loopback',
    subnet: '127.107.0.0/16',
  });
  await userMode.setAddresses(['127.107.0.2', '127.107.255.254']);
  await assert.rejects(userMode.setAddresses(['10.107.0.2']), {
    code: 'SUBNET_INVALID',
    message: /"10\.107\.0\.2" is not in the user-mode subnet 127\.107\.0\.0\/16/,
  });
  assert.equal(ops({ subnet: '127.9.0.0/24' }).effectiveSubnet('10.107.0.0/16'), '127.9.0.0/24');
  assert.throws(() => ops({ subnet: '10.107.0.0/16' }), {
    code: 'SUBNET_INVALID',
    message: /not inside .*127\.0\.0\.0\/8/,
  });
  assert.throws(() => ops({ subnet: '127.107.0.1/16' }), { code: 'SUBNET_INVALID', message: /did you mean/ });
});

test('privileged ports move up by 10000 for an unprivileged process; the server accepts connections', async () => {
  const userMode = ops();
  assert.equal(userMode.localPort(80), 10080);
  assert.equal(userMode.localPort(443), 10443);
  assert.equal(userMode.localPort(1024), 1024);
  assert.equal(ops({ isRoot: true }).localPort(80), 80);
  assert.equal(ops({ unprivilegedPortStart: 0 }).localPort(80), 80);

  const { server, port } = await listen(userMode, '127.107.31.7', 80);
  assert.equal(port, 10080);
  assert.deepEqual(server.address(), { address: '127.107.31.7', family: 'IPv4', port: 10080 });

  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ host: '127.107.31.7', port: 10080 });
  client.end('hello');
  const [socket] = await accepted;
  assert.equal(socket.allowHalfOpen, true, 'half-close is left to the forwarder');
  socket.resume();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'hello');
  socket.end('bye');
  const [reply] = (await once(client, 'data')) as [Buffer];
  assert.equal(reply.toString(), 'bye');
  client.destroy();
});

test('root listens on the port itself', async () => {
  // A high unprivileged start makes 20080 "privileged" without needing real root for the test.
  const asRoot = ops({ isRoot: true, unprivilegedPortStart: 30000 });
  const { server, port } = await listen(asRoot, '127.107.31.8', 20080);
  assert.equal(port, 20080);
  assert.equal((server.address() as { port: number }).port, 20080);
  assert.equal(ops({ unprivilegedPortStart: 30000 }).localPort(20080), 30080);
});

test('a port already in use is PORT_IN_USE naming ip:port; other failures are LISTEN_FAILED', async () => {
  const userMode = ops();
  await listen(userMode, '127.107.31.9', 443);
  await assert.rejects(
    userMode.listen('127.107.31.9', 443),
    (err: Error & { code?: string; fix?: string }) => {
      assert.equal(err.code, 'PORT_IN_USE');
      assert.match(err.message, /127\.107\.31\.9:10443 \(mapped from port 443\) is already in use/);
      assert.match(err.fix ?? '', /10443/);
      return true;
    },
  );
  await assert.rejects(ops({ unprivilegedPortStart: 65536 }).listen('127.107.31.9', 60000), {
    code: 'LISTEN_FAILED',
    message: /127\.107\.31\.9:70000 \(mapped from port 60000\)/,
  });
  await assert.rejects(userMode.listen('10.107.0.2', 8080), { code: 'SUBNET_INVALID' });
});

test('the hosts file is managed when a path is given, and removed on teardown', async () => {
  const hostsPath = join(root, 'hosts');
  await writeFile(hostsPath, '127.0.0.1 localhost\n');
  const userMode = ops({ hostsPath });
  assert.equal(userMode.hostsManaged, true);
  await userMode.ensureInterface({ name: 'ngrokd1', subnet: '10.107.0.0/16' });
  assert.deepEqual(await userMode.setHosts([{ ip: '127.107.0.2', hostname: 'web.prod' }]), { changed: true });
  assert.equal(
    await readFile(hostsPath, 'utf8'),
    '127.0.0.1 localhost\n# BEGIN ngrokd managed section (ngrokd1)\n127.107.0.2 web.prod\n# END ngrokd managed section (ngrokd1)\n',
  );
  await assert.rejects(userMode.setHosts([{ ip: '10.107.0.2', hostname: 'web.prod' }]), {
    code: 'SUBNET_INVALID',
  });
  await userMode.teardown();
  await userMode.teardown();
  assert.equal(await readFile(hostsPath, 'utf8'), '127.0.0.1 localhost\n');
});

test('without a writable hosts file, hostnames are simply not managed', async () => {
  const userMode = ops();
  assert.equal(userMode.hostsManaged, false);
  assert.equal(userMode.hostsPath, null);
  assert.deepEqual(await userMode.setHosts([{ ip: '127.107.0.2', hostname: 'web.prod' }]), {
    changed: false,
  });
  await userMode.teardown();

  const writable = join(root, 'default-hosts');
  await writeFile(writable, '');
  assert.equal(ops({ defaultHostsPath: writable }).hostsManaged, true);
});
