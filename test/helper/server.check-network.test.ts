/**
 * checkNetwork end to end through the helper's socket, in-process and without root: the app's
 * HelperClientOps asks, the HelperServer serves it from a pinned RootOps whose backend reports a
 * chosen conflict. Only the controlling connection may ask, only about the pinned subnet, and an
 * older helper that does not know the method makes the client report nothing rather than fail.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InterfaceSpec } from '../../main/common/privileged.ts';
import type { NetworkBackend, SubnetConflict } from '../../main/system/network-backend.ts';
import { RootOps } from '../../main/system/root-ops.ts';
import { HelperClientOps } from '../../helper/client/helper-client.ts';
import {
  decodeResponse,
  encodeFrame,
  FrameReader,
  HELPER_PROTOCOL_VERSION,
  protocolError,
} from '../../helper/protocol.ts';
import { HelperServer, type ServedOps } from '../../helper/server.ts';

const SPEC = { name: 'ngrokd0', subnet: '10.107.0.0/16' };
const VPN: SubnetConflict = {
  subnet: '10.107.0.0/16',
  range: '10.107.128.0/17',
  what: 'a route via interface "tun0"',
  free: '10.108.0.0/16',
};

class FakeBackend implements NetworkBackend {
  conflict: SubnetConflict | null = null;
  async ensureInterface(spec: InterfaceSpec) {
    return { name: spec.name, kind: 'bridge' as const, subnet: spec.subnet };
  }
  async setAddresses() {}
  async destroyInterface() {}
  async destroyManagedInterfaces() {
    return [];
  }
  async findSubnetConflict() {
    return this.conflict;
  }
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir: string;
let count = 0;
const cleanups: (() => unknown)[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-helper-check-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function startHelper(ops: ServedOps): Promise<string> {
  const socketPath = join(dir, `h${count++}.sock`);
  const server = await HelperServer.start({
    socketPath,
    allowedUid: process.getuid?.() ?? null,
    ops,
    version: '9.9.9',
    logger: quiet,
  });
  cleanups.push(() => server.close());
  return socketPath;
}

function pinnedOps(backend: NetworkBackend): RootOps {
  const hostsPath = join(dir, `hosts${count}`);
  writeFileSync(hostsPath, '127.0.0.1 localhost\n');
  return new RootOps({ hostsPath, backend, pinned: SPEC });
}

function client(socketPath: string, warnings: string[] = []): HelperClientOps {
  const app = new HelperClientOps({
    appVersion: 'test',
    socketPath,
    requestTimeoutMs: 5_000,
    logger: { ...quiet, warn: (_fields: object, message: string) => void warnings.push(message) },
  });
  cleanups.push(() => app.close());
  return app;
}

/** One raw request on a fresh connection after hello; its decoded reply. */
async function rawRequest(socketPath: string, method: string, params: object) {
  const socket = connect(socketPath);
  await once(socket, 'connect');
  const reader = new FrameReader();
  const replies: ReturnType<typeof decodeResponse>[] = [];
  socket.write(
    Buffer.concat([
      encodeFrame({ id: 1, method: 'hello', params: { version: 't', protocol: HELPER_PROTOCOL_VERSION } }),
      encodeFrame({ id: 2, method, params }),
    ]),
  );
  for await (const chunk of socket) {
    for (const payload of reader.push(chunk as Buffer)) replies.push(decodeResponse(payload));
    if (replies.length === 2) break;
  }
  socket.destroy();
  return replies[1];
}

test('the app learns of a conflict through the helper, with the fix for helper.json; and when it is gone', async () => {
  const backend = new FakeBackend();
  const socketPath = await startHelper(pinnedOps(backend));
  const app = client(socketPath);
  await app.ensureInterface(SPEC);
  assert.equal(await app.checkNetwork(SPEC), null);
  backend.conflict = VPN;
  const problem = await app.checkNetwork(SPEC);
  assert.equal(problem?.code, 'SUBNET_CONFLICT');
  assert.match(
    problem?.message ?? '',
    /overlaps 10\.107\.128\.0\/17 \(a route via interface "tun0"\), which appeared after/,
  );
  assert.match(problem?.fix ?? '', /set "subnet" in \/etc\/ngrokd\/helper\.json to 10\.108\.0\.0\/16/);
  assert.ok(problem?.at !== undefined);
  backend.conflict = null;
  assert.equal(await app.checkNetwork(SPEC), null);
  // Another subnet than the pinned one is refused, as ensureInterface refuses it.
  await assert.rejects(app.checkNetwork({ name: 'ngrokd0', subnet: '10.108.0.0/16' }), {
    code: 'SUBNET_INVALID',
  });
});

test('only the controlling connection may ask', async () => {
  const backend = new FakeBackend();
  const socketPath = await startHelper(pinnedOps(backend));
  const before = await rawRequest(socketPath, 'checkNetwork', SPEC);
  assert.equal(before?.ok, false);
  assert.match(before?.ok === false ? before.error.message : '', /checkNetwork before ensureInterface/);
  const app = client(socketPath);
  await app.ensureInterface(SPEC);
  const other = await rawRequest(socketPath, 'checkNetwork', SPEC);
  assert.equal(other?.ok === false ? other.error.code : 'ok', 'INTERFACE_IN_USE');
});

test('a helper from before checkNetwork: the client reports nothing and says once that it is too old', async () => {
  const unknown = async () => {
    throw protocolError(
      'unknown method "checkNetwork" (allowed: hello, ensureInterface, setAddresses, setHosts, listen, teardown)',
    );
  };
  const old: ServedOps = {
    hostsPath: '/tmp/old-helper-hosts',
    pinned: null,
    ensureInterface: async (spec) => ({ name: spec.name, kind: 'bridge', subnet: spec.subnet }),
    setAddresses: async () => undefined,
    setHosts: async () => ({ changed: false }),
    listen: unknown,
    teardown: async () => undefined,
    checkNetwork: unknown,
  };
  const warnings: string[] = [];
  const app = client(await startHelper(old), warnings);
  await app.ensureInterface(SPEC);
  assert.equal(await app.checkNetwork(SPEC), null);
  assert.equal(await app.checkNetwork(SPEC), null);
  assert.equal(warnings.filter((w) => /too old to check for subnet conflicts/.test(w)).length, 1);
});

test('a start refused for a conflict: the fix is for helper.json, and the teardown that follows asks nothing', async () => {
  const backend = new FakeBackend();
  backend.conflict = VPN;
  const socketPath = await startHelper(pinnedOps(backend));
  const app = client(socketPath);
  await assert.rejects(app.ensureInterface(SPEC), (err: Error & { code?: string; fix?: string }) => {
    assert.equal(err.code, 'SUBNET_CONFLICT');
    assert.equal(
      err.message,
      'net.subnet 10.107.0.0/16 overlaps 10.107.128.0/17 (a route via interface "tun0")',
    );
    assert.match(err.fix ?? '', /helper\.json to 10\.108\.0\.0\/16/);
    return true;
  });
  // The helper would refuse it ("teardown before ensureInterface"): nothing of ours is there.
  await app.teardown();
});
