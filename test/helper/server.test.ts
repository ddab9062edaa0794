/**
 * The helper server and the app's client over a real Unix socket, in-process and without root: the
 * root operations are a recording stand-in, listening happens on an ephemeral loopback port. Root,
 * a real interface, port 80 and a foreign uid are covered by test/integration/helper.test.ts.
 */
import type { StructuredLogger } from '../../main/common/logger.ts';
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NgrokdError, type UserFacingError } from '../../main/common/errors.ts';
import type { HostsEntry, InterfaceSpec } from '../../main/common/privileged.ts';
import { HelperClientOps } from '../../helper/client/helper-client.ts';
import { decodeResponse, encodeFrame, FrameReader, HELPER_PROTOCOL_VERSION } from '../../helper/protocol.ts';
import { HelperServer, SOCKET_MODE, type ServedOps } from '../../helper/server.ts';

type Call = [string, ...unknown[]];

/** Records every call; listen binds an ephemeral loopback port whatever port was asked for. */
class RecordingOps implements ServedOps {
  readonly hostsPath = '/tmp/recorded-hosts';
  readonly pinned = null;
  readonly calls: Call[] = [];
  readonly servers: Server[] = [];
  failHosts: NgrokdError | null = null;

  async ensureInterface(spec: InterfaceSpec) {
    this.calls.push(['ensureInterface', spec]);
    return { name: spec.name, kind: 'bridge' as const, subnet: spec.subnet };
  }
  async setAddresses(ips: readonly string[]) {
    this.calls.push(['setAddresses', [...ips]]);
  }
  async setHosts(entries: readonly HostsEntry[]) {
    this.calls.push(['setHosts', entries.map((e) => ({ ...e }))]);
    if (this.failHosts !== null) throw this.failHosts;
    return { changed: true };
  }
  async listen(ip: string, port: number) {
    this.calls.push(['listen', ip, port]);
    const server = createServer();
    this.servers.push(server);
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    return { server, port: (server.address() as { port: number }).port };
  }
  async teardown() {
    this.calls.push(['teardown']);
  }
  conflict: UserFacingError | null = null;
  async checkNetwork(spec: InterfaceSpec) {
    this.calls.push(['checkNetwork', spec]);
    return this.conflict;
  }
  methods(): string[] {
    return this.calls.map((c) => c[0]);
  }
}

class MemoryLogger implements StructuredLogger {
  readonly lines: { level: string; fields: object; message: string }[] = [];
  info(fields: object, message: string) {
    this.lines.push({ level: 'info', fields, message });
  }
  warn(fields: object, message: string) {
    this.lines.push({ level: 'warn', fields, message });
  }
  error(fields: object, message: string) {
    this.lines.push({ level: 'error', fields, message });
  }
  count(message: string): number {
    return this.lines.filter((l) => l.message === message).length;
  }
}

let dir: string;
const cleanups: (() => unknown)[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-helper-unit-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

after(() => rmSync(dir, { recursive: true, force: true }));

let socketCount = 0;

async function startServer(
  options: { ops?: RecordingOps; gracePeriodMs?: number; socketPath?: string } = {},
) {
  const ops = options.ops ?? new RecordingOps();
  const logger = new MemoryLogger();
  const socketPath = options.socketPath ?? join(dir, `h${socketCount++}.sock`);
  const server = await HelperServer.start({
    socketPath,
    allowedUid: process.getuid?.() ?? null,
    ops,
    version: '9.9.9',
    logger,
    gracePeriodMs: options.gracePeriodMs ?? 60_000,
  });
  cleanups.push(() => server.close());
  return { server, ops, logger, socketPath };
}

function client(socketPath: string): HelperClientOps {
  const ops = new HelperClientOps({
    appVersion: 'test',
    socketPath,
    watchIntervalMs: 20,
    requestTimeoutMs: 5_000,
  });
  cleanups.push(() => ops.close());
  return ops;
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Raw frames over a plain socket; returns the decoded replies. */
async function rawExchange(socketPath: string, messages: object[]) {
  const socket = connect(socketPath);
  await once(socket, 'connect');
  const reader = new FrameReader();
  const replies: ReturnType<typeof decodeResponse>[] = [];
  socket.write(Buffer.concat(messages.map((m) => encodeFrame(m))));
  for await (const chunk of socket) {
    for (const payload of reader.push(chunk as Buffer)) replies.push(decodeResponse(payload));
    if (replies.length === messages.length) break;
  }
  socket.destroy();
  return replies;
}

const SPEC = { name: 'ngrokd0', subnet: '10.107.0.0/16' };
const HOSTS = [{ ip: '10.107.0.2', hostname: 'web.prod' }];

test('the socket is world-connectable because every peer is checked by credentials', async () => {
  const { socketPath } = await startServer();
  assert.equal(statSync(socketPath).mode & 0o777, SOCKET_MODE);
});

test('hello reports the helper version, protocol and hosts file; operations are forwarded', async () => {
  const { ops, socketPath } = await startServer();
  const app = client(socketPath);
  assert.equal(app.hostsPath, null);
  assert.deepEqual(await app.connect(), {
    version: '9.9.9',
    protocol: HELPER_PROTOCOL_VERSION,
    hostsPath: '/tmp/recorded-hosts',
    compatible: true,
  });
  assert.equal(app.hostsPath, '/tmp/recorded-hosts');
  assert.deepEqual(await app.ensureInterface(SPEC), { ...SPEC, kind: 'bridge' });
  await app.setAddresses(['10.107.0.2']);
  assert.deepEqual(await app.setHosts(HOSTS), { changed: true });
  await app.teardown();
  assert.deepEqual(ops.calls, [
    ['ensureInterface', SPEC],
    ['setAddresses', ['10.107.0.2']],
    ['setHosts', HOSTS],
    ['teardown'],
  ]);
});

test('listen passes the listening socket as an fd: connections reach the client, not the helper', async () => {
  const { ops, socketPath } = await startServer();
  const app = client(socketPath);
  await app.ensureInterface(SPEC);
  // Concurrent listens: each reply carries its own fd.
  const sockets = await Promise.all([app.listen('10.107.0.2', 80), app.listen('10.107.0.3', 443)]);
  assert.ok(
    ops.servers.every((s) => !s.listening),
    'the helper closed its own copies',
  );
  for (const [i, { server, port }] of sockets.entries()) {
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    assert.equal((server.address() as { port: number }).port, port);
    server.on('connection', (socket) => {
      socket.resume();
      socket.end(`client ${i}`);
    });
    const reply = connect({ host: '127.0.0.1', port });
    let text = '';
    for await (const chunk of reply) text += String(chunk);
    assert.equal(text, `client ${i}`);
  }
});

test('an error reply becomes the same NgrokdError in the app', async () => {
  const ops = new RecordingOps();
  ops.failHosts = new NgrokdError('HOSTNAME_INVALID', 'hostname "a b" is invalid', 'Fix the name.');
  const { socketPath } = await startServer({ ops });
  const app = client(socketPath);
  await app.ensureInterface(SPEC);
  await assert.rejects(app.setHosts([{ ip: '10.107.0.2', hostname: 'a b' }]), (err: NgrokdError) => {
    assert.ok(err instanceof NgrokdError);
    assert.deepEqual(err.toJSON(), ops.failHosts?.toJSON());
    return true;
  });
  // The connection is still usable after an error reply.
  await app.setAddresses([]);
});

test('a missing helper is HELPER_MISSING naming the socket and the install command', async () => {
  const socketPath = join(dir, 'nobody-here.sock');
  const app = client(socketPath);
  await assert.rejects(app.connect(), (err: NgrokdError) => {
    assert.equal(err.code, 'HELPER_MISSING');
    assert.match(err.message, new RegExp(socketPath.replaceAll('.', '\\.')));
    assert.match(err.fix, /npm run ngrokd -- helper install/);
    return true;
  });
});

test('an older helper is detected by its handshake: its version is known and an upgrade is suggested', async () => {
  const socketPath = join(dir, 'old.sock');
  const old = createServer((socket) => {
    const reader = new FrameReader();
    socket.on('data', (chunk) => {
      for (const payload of reader.push(chunk)) {
        const { id } = JSON.parse(payload.toString()) as { id: number };
        socket.write(encodeFrame({ id, ok: true, result: { version: '0.0.1', protocol: 0 } }));
      }
    });
  });
  await new Promise<void>((resolve) => old.listen(socketPath, resolve));
  cleanups.push(() => new Promise((resolve) => old.close(resolve)));
  const app = client(socketPath);
  await assert.rejects(app.connect(), (err: NgrokdError) => {
    assert.equal(err.code, 'HELPER_ERROR');
    assert.match(err.message, /version 0\.0\.1 \(protocol 0\)/);
    assert.match(err.fix, /helper install/);
    return true;
  });
  assert.deepEqual(app.helper, { version: '0.0.1', protocol: 0, hostsPath: null, compatible: false });
});

test('the server answers hello of another protocol with its version, but refuses operations', async () => {
  const { ops, socketPath } = await startServer();
  const [hello, ensure] = await rawExchange(socketPath, [
    { id: 1, method: 'hello', params: { version: 'old', protocol: 99 } },
    { id: 2, method: 'ensureInterface', params: SPEC },
  ]);
  assert.deepEqual(hello, {
    id: 1,
    ok: true,
    result: { version: '9.9.9', protocol: HELPER_PROTOCOL_VERSION, hostsPath: '/tmp/recorded-hosts' },
  });
  assert.equal(ensure?.ok, false);
  assert.match(ensure?.ok === false ? ensure.error.message : '', /ensureInterface before a successful hello/);
  assert.deepEqual(ops.calls, []);
});

test('a second client is refused while the first lives, and takes over once it is gone; a hello-only probe disturbs nothing', async () => {
  const { ops, logger, socketPath } = await startServer();
  const first = client(socketPath);
  await first.ensureInterface(SPEC);
  const probe = client(socketPath);
  await probe.connect();
  assert.equal(logger.count('client took control'), 1);
  const second = client(socketPath);
  for (const attempt of [() => second.ensureInterface(SPEC), () => second.setAddresses([])]) {
    await assert.rejects(attempt(), (err: NgrokdError) => {
      assert.equal(err.code, 'INTERFACE_IN_USE');
      assert.match(err.message, new RegExp(`in use by another ngrokd \\(pid ${process.pid}, uid \\d+\\)`));
      return true;
    });
  }
  const calls = ops.calls.length;
  await first.setAddresses(['10.107.0.2']);
  assert.equal(ops.calls.length, calls + 1, 'the first keeps working, untouched');
  first.close();
  await eventually(() => logger.count('client disconnected') >= 1, 'the first to be gone');
  await second.ensureInterface(SPEC);
  assert.equal(logger.count('client took control'), 2);
});

test('when the controlling client vanishes, the grace period ends in a full teardown', async () => {
  const { ops, socketPath } = await startServer({ gracePeriodMs: 50 });
  const app = client(socketPath);
  await app.ensureInterface(SPEC);
  await app.setHosts(HOSTS);
  app.close();
  await eventually(() => ops.methods().includes('teardown'), 'teardown');
});

test('after the helper restarts, the client reconnects by itself and re-asserts the whole state', async () => {
  const first = await startServer();
  const app = client(first.socketPath);
  await app.ensureInterface(SPEC);
  await app.setAddresses(['10.107.0.2']);
  await app.setHosts(HOSTS);
  await first.server.close();
  const second = await startServer({ socketPath: first.socketPath });
  await eventually(() => second.ops.calls.length >= 3, 're-assertion');
  assert.deepEqual(second.ops.calls, [
    ['ensureInterface', SPEC],
    ['setAddresses', ['10.107.0.2']],
    ['setHosts', HOSTS],
  ]);
  // After teardown nothing is re-asserted any more.
  await app.teardown();
  await second.server.close();
  const third = await startServer({ socketPath: first.socketPath });
  await app.setAddresses([]).catch(() => undefined);
  assert.deepEqual(third.ops.methods(), [], 'no ensureInterface or setHosts replayed');
});

test('a refused or vanished helper mid-request is retried once on a fresh connection', async () => {
  const first = await startServer();
  const app = client(first.socketPath);
  await app.ensureInterface(SPEC);
  await first.server.close();
  const second = await startServer({ socketPath: first.socketPath });
  // No waiting for the watcher: the request itself notices and reconnects.
  await app.setHosts(HOSTS);
  assert.deepEqual(second.ops.methods().slice(-2), ['ensureInterface', 'setHosts']);
});

test('before a successful hello, frames over 1 MiB are refused; a greeted client may send up to 4 MiB', async () => {
  const { socketPath } = await startServer();
  const big = { id: 7, method: 'setHosts', params: { entries: [], pad: 'x'.repeat(1_200_000) } };
  const [stranger] = await rawExchange(socketPath, [big]);
  assert.ok(stranger !== undefined && !stranger.ok);
  assert.match(stranger.error.message, /exceeds the 1048576-byte limit/);
  // A greeted client (hello answered first, as every client does) may send the big frame.
  const socket = connect(socketPath);
  await once(socket, 'connect');
  const reader = new FrameReader();
  const replies: ReturnType<typeof decodeResponse>[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const payload of reader.push(chunk)) replies.push(decodeResponse(payload));
  });
  const next = async () => {
    await eventually(() => replies.length > 0, 'a reply');
    return replies.shift();
  };
  socket.write(
    encodeFrame({ id: 1, method: 'hello', params: { version: 'test', protocol: HELPER_PROTOCOL_VERSION } }),
  );
  const greeted = await next();
  socket.write(encodeFrame(big));
  const answer = await next();
  socket.destroy();
  assert.equal(greeted?.ok, true);
  assert.ok(answer !== undefined && !answer.ok);
  assert.match(answer.error.message, /invalid params for setHosts/, 'validated, not refused for its size');
});
