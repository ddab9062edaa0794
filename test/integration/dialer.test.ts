import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { NgrokdError } from '../../main/common/errors.ts';
import {
  BindingDialer,
  parseIngressAddress,
  type BindingConnection,
} from '../../main/engine/binding/dialer.ts';
import { loadIngressTrust, type IngressTrust } from '../../main/engine/binding/trust.ts';
import { INGRESS_NAME, createPki, startIngress, type FakeIngress, type Pki } from './tls-fixtures.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let pki: Pki;
let dir: string;
let trust: IngressTrust;
let backend: Server;
let backendPort: number;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  pki = await createPki();
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-dialer-'));
  // Only the intermediate ("ngrok's CA"), not its root: allowPartialTrustChain makes that enough.
  writeFileSync(join(dir, 'ingress-ca.pem'), pki.ingressCA.certPem);
  trust = loadIngressTrust({
    ingressCA: join(dir, 'ingress-ca.pem'),
    trustDir: join(dir, 'none'),
    systemRoots: false,
  });
  backend = createNetServer((socket) => socket.pipe(socket));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  backendPort = (backend.address() as { port: number }).port;
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await new Promise((resolve) => backend.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function ingress(options: Partial<Parameters<typeof startIngress>[0]> = {}): Promise<FakeIngress> {
  const started = await startIngress({
    identity: pki.server,
    clientCA: pki.clientCA.certPem,
    answer: () => ({ backendPort }),
    ...options,
  });
  cleanups.push(() => started.close());
  return started;
}

function dialer(fake: FakeIngress, overrides: Partial<ConstructorParameters<typeof BindingDialer>[0]> = {}) {
  return new BindingDialer({
    ingress: fake.address,
    servername: INGRESS_NAME,
    credentials: pki.client,
    trust,
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<NgrokdError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof NgrokdError, `expected an NgrokdError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the dial to fail');
}

async function readExactly(socket: Socket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  socket.resume();
  for await (const chunk of socket as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= n) break;
  }
  return Buffer.concat(chunks).subarray(0, n);
}

test('parseIngressAddress adds :443 and understands IPv6', () => {
  assert.deepEqual(parseIngressAddress('kubernetes-binding-ingress.ngrok.io'), {
    host: 'kubernetes-binding-ingress.ngrok.io',
    port: 443,
  });
  assert.deepEqual(parseIngressAddress('127.0.0.1:8443'), { host: '127.0.0.1', port: 8443 });
  assert.deepEqual(parseIngressAddress('[::1]:9'), { host: '::1', port: 9 });
  assert.throws(() => parseIngressAddress('host:99999'), { code: 'CONFIG_INVALID' });
  assert.throws(() => parseIngressAddress('a b'), { code: 'CONFIG_INVALID' });
});

test('dial sends ConnRequest{host, port} and hands back a raw stream; early bytes are not lost', async () => {
  const fake = await ingress({ answer: () => ({ backendPort, early: Buffer.from('early-bytes|') }) });
  const conn: BindingConnection = await dialer(fake).dial('web.prod', 80);
  assert.deepEqual(fake.requests, [{ host: 'web.prod', port: 80 }]);
  assert.equal(conn.response.endpointId, 'ep_test');
  assert.equal(conn.resumed, false);
  assert.ok(conn.upgradeMs >= 0);
  assert.equal(conn.socket.isPaused(), true);
  conn.socket.write('echo me');
  assert.equal((await readExactly(conn.socket, 19)).toString(), 'early-bytes|echo me');
  conn.socket.destroy();
});

test('the second dial resumes the TLS session', async () => {
  const fake = await ingress();
  const d = dialer(fake);
  const first = await d.dial('web.prod', 80);
  first.socket.destroy();
  assert.ok(d.cachedSessions > 0, 'a session was cached');
  const second = await d.dial('web.prod', 80);
  assert.equal(first.resumed, false);
  assert.equal(second.resumed, true);
  assert.equal(fake.resumptions, 1);
  second.socket.destroy();
});

test('TLS 1.2 sessions are resumed too', async () => {
  const fake = await ingress({ maxVersion: 'TLSv1.2' });
  const d = dialer(fake);
  for (const expected of [false, true, true]) {
    const conn = await d.dial('web.prod', 80);
    assert.equal(conn.resumed, expected);
    conn.socket.destroy();
  }
});

test('an untrusted server certificate fails with INGRESS_UNTRUSTED before a byte is sent', async () => {
  const fake = await ingress({ identity: pki.untrustedServer });
  const err = await rejection(dialer(fake).dial('web.prod', 80));
  assert.equal(err.code, 'INGRESS_UNTRUSTED');
  assert.match(err.message, new RegExp(fake.address.replace(/\./g, '\\.')));
  assert.match(err.message, /self-signed|unable to verify|issuer/i);
  assert.match(err.fix, /ingressCA/);
  assert.match(err.fix, /\/etc\/ssl\/certs\/ngrok/);
  assert.equal(fake.bytesReceived, 0);
  assert.equal(fake.requests.length, 0);
});

test('a certificate for another name fails with INGRESS_UNTRUSTED', async () => {
  const fake = await ingress();
  const err = await rejection(dialer(fake, { servername: 'other.test' }).dial('web.prod', 80));
  assert.equal(err.code, 'INGRESS_UNTRUSTED');
  assert.match(err.message, /other\.test/);
  assert.equal(fake.bytesReceived, 0);
});

test('a client certificate the ingress does not accept fails with CLIENT_CERT_REJECTED (TLS 1.3 and 1.2)', async () => {
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const fake = await ingress({ maxVersion });
    const err = await rejection(dialer(fake, { credentials: pki.foreignClient }).dial('web.prod', 80));
    assert.equal(err.code, 'CLIENT_CERT_REJECTED', `${maxVersion}: ${err.message}`);
    assert.match(err.message, /client certificate/);
    assert.equal(fake.requests.length, 0);
  }
});

test('setCredentials switches certificates for new dials and drops cached sessions', async () => {
  const fake = await ingress();
  const d = dialer(fake, { credentials: pki.foreignClient });
  assert.equal((await rejection(d.dial('web.prod', 80))).code, 'CLIENT_CERT_REJECTED');
  d.setCredentials(pki.client);
  const conn = await d.dial('web.prod', 80);
  conn.socket.destroy();
  assert.ok(d.cachedSessions > 0);
  d.setCredentials(pki.client);
  assert.equal(d.cachedSessions, 0);
  assert.throws(() => d.setCredentials({ certPem: 'nope', keyPem: 'nope' }), {
    code: 'CLIENT_CERT_REJECTED',
  });
});

test('an error in ConnResponse fails with UPGRADE_REFUSED carrying the ngrok code', async () => {
  const fake = await ingress({
    answer: () => ({ errorCode: 'ERR_NGROK_28001', errorMessage: 'traffic policy requires pod identity' }),
  });
  const err = await rejection(dialer(fake).dial('web.prod', 80));
  assert.equal(err.code, 'UPGRADE_REFUSED');
  assert.equal(err.ngrokCode, 'ERR_NGROK_28001');
  assert.match(err.message, /web\.prod:80: ERR_NGROK_28001: traffic policy requires pod identity/);
});

test('malformed and truncated responses fail with PROTOCOL_ERROR', async () => {
  for (const raw of [Buffer.from([0x02, 0x00, 0x0a, 0x05]), Buffer.from([0x09, 0x00, 0x0a])]) {
    const fake = await ingress({ answer: () => ({ raw }) });
    const err = await rejection(dialer(fake).dial('web.prod', 80));
    assert.equal(err.code, 'PROTOCOL_ERROR', err.message);
  }
});

test('a closed port fails with INGRESS_UNREACHABLE', async () => {
  const probe = createNetServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  const d = new BindingDialer({
    ingress: `127.0.0.1:${port}`,
    servername: INGRESS_NAME,
    credentials: pki.client,
    trust,
  });
  const err = await rejection(d.dial('web.prod', 80));
  assert.equal(err.code, 'INGRESS_UNREACHABLE');
  assert.match(err.message, /ECONNREFUSED/);
});

test('an ingress that never answers hits the dial timeout', async () => {
  const sockets: Socket[] = [];
  const silent = createNetServer((socket) => sockets.push(socket));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const port = (silent.address() as { port: number }).port;
  const d = new BindingDialer({
    ingress: `127.0.0.1:${port}`,
    servername: INGRESS_NAME,
    credentials: pki.client,
    trust,
    dialTimeoutMs: 100,
  });
  const err = await rejection(d.dial('web.prod', 80));
  assert.equal(err.code, 'INGRESS_UNREACHABLE');
  assert.match(err.message, /within 100 ms/);
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

test('aborting a dial rejects with the reason and closes the connection', async () => {
  const fake = await ingress();
  const controller = new AbortController();
  const reason = new Error('listener closed');
  const pending = dialer(fake).dial('web.prod', 80, { signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(pending, (err) => err === reason);
  const closed = dialer(fake);
  closed.close();
  assert.equal((await rejection(closed.dial('web.prod', 80))).code, 'INGRESS_UNREACHABLE');
});
