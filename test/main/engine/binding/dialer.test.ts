import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect as netConnect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { NgrokdError } from '../../../../main/common/errors.ts';
import { BindingDialer, type BindingConnection } from '../../../../main/engine/binding/dialer.ts';
import { parseIngressAddress } from '../../../../main/engine/binding/ingress-address.ts';
import { EarlyBytes } from '../../../../main/engine/binding/early-data.ts';
import { createServer as createHttpServer } from 'node:http';
import {
  INGRESS_NAME,
  createBindingFixture,
  eventually,
  startAlertingIngress,
  type BindingFixture,
  type FakeIngress,
} from '../../../support/tls-fixtures.ts';
import { keepaliveState } from '../../../support/socket-options.ts';

let binding: BindingFixture;
let backend: Server;
let backendPort: number;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  binding = await createBindingFixture('ngrokd-dialer-');
  backend = createNetServer((socket) => socket.pipe(socket));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  backendPort = (backend.address() as { port: number }).port;
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await new Promise((resolve) => backend.close(resolve));
  binding.removeDir();
});

async function ingress(
  options: Partial<Parameters<BindingFixture['ingress']>[0]> = {},
): Promise<FakeIngress> {
  const started = await binding.ingress({ answer: () => ({ backendPort }), ...options });
  cleanups.push(() => started.close());
  return started;
}

function dialer(
  fake: { address: string },
  overrides: Parameters<BindingFixture['dialer']>[1] = {},
): BindingDialer {
  const d = binding.dialer(fake.address, overrides);
  cleanups.push(() => d.close());
  return d;
}

/**
 * A TCP hop between the dialer and an ingress that the test controls, standing in for the
 * network: it counts connections, can cut them, re-point them or make them die on their next bytes.
 */
class Hop {
  targetPort: number;
  /** Connections accepted so far. */
  accepted = 0;
  /** New connections swallow what the dialer sends: its handshake hangs. */
  stallNew = false;
  private readonly server: Server;
  private readonly pairs = new Set<{
    client: Socket;
    upstream: Socket;
    dropOnData: boolean;
    dropLater: number | null;
  }>();

  private constructor(targetPort: number) {
    this.targetPort = targetPort;
    this.server = createNetServer({ allowHalfOpen: true }, (client) => {
      this.accepted++;
      const upstream = netConnect({ port: this.targetPort, host: '127.0.0.1', allowHalfOpen: true });
      const pair = { client, upstream, dropOnData: false, dropLater: null as number | null };
      this.pairs.add(pair);
      const drop = (): void => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      for (const socket of [client, upstream]) {
        socket.on('error', drop);
        socket.on('close', drop);
      }
      const stalled = this.stallNew;
      client.on('data', (chunk: Buffer) => {
        if (pair.dropOnData) drop();
        else if (!stalled) upstream.write(chunk);
        if (pair.dropLater !== null) {
          // The bytes went on; nothing comes back, and the connection dies a while later.
          upstream.unpipe(client);
          upstream.on('data', () => {});
          setTimeout(drop, pair.dropLater);
          pair.dropLater = null;
        }
      });
      // Like the forwarders in front of ngrok: the first EOF closes both sides.
      client.on('end', drop);
      upstream.pipe(client);
    });
  }

  static async start(targetPort: number): Promise<Hop> {
    const hop = new Hop(targetPort);
    hop.server.listen(0, '127.0.0.1');
    await once(hop.server, 'listening');
    cleanups.push(() => hop.close());
    return hop;
  }

  get address(): string {
    return `127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Connections open now. */
  get open(): number {
    return this.pairs.size;
  }

  /**
   * The connections open now go silent both ways (their bytes are dropped), as when the NAT
   * mapping behind them is lost while the laptop sleeps; new connections work.
   */
  freeze(): void {
    for (const pair of this.pairs) {
      pair.upstream.unpipe(pair.client);
      pair.upstream.on('data', () => {});
      pair.client.removeAllListeners('data');
      pair.client.on('data', () => {});
    }
  }

  /** Close every connection, as an ingress dropping idle connections does. */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  /** The connections open now close, unanswered, when the dialer next writes to them. */
  dropOnNextData(): void {
    for (const pair of this.pairs) pair.dropOnData = true;
  }

  /**
   * The connections open now pass the dialer's next bytes on, but never an answer, and close
   * `ms` later: an ingress that took a request and died before answering.
   */
  dropAnswerAndCloseAfter(ms: number): void {
    for (const pair of this.pairs) pair.dropLater = ms;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

async function closedPort(): Promise<number> {
  const probe = createNetServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Dial, prove the stream works and close it. */
async function dialAndEcho(d: BindingDialer, host = 'web.prod', port = 80): Promise<BindingConnection> {
  const conn = await d.dial(host, port);
  conn.socket.write('ping');
  assert.equal((await readExactly(conn.socket, 4)).toString(), 'ping');
  conn.socket.destroy();
  return conn;
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
  // No warm pool: its background handshakes would resume sessions too.
  const d = dialer(fake, { warmConnections: 0 });
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
  const fake = await ingress({ identity: binding.pki.untrustedServer });
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

test('a TLS alert refusing the client certificate fails with CLIENT_CERT_REJECTED (TLS 1.3 and 1.2)', async () => {
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const server = await startAlertingIngress(binding.pki, maxVersion);
    cleanups.push(() => server.close());
    const err = await rejection(
      dialer(server, { credentials: binding.pki.foreignClient }).dial('web.prod', 80),
    );
    assert.equal(err.code, 'CLIENT_CERT_REJECTED', `${maxVersion}: ${err.message}`);
    assert.match(err.message, /client certificate.*TLS alert/);
  }
});

test('an ingress that closes or resets without an alert is INGRESS_RESET, never a certificate problem', async () => {
  // node:tls refuses a foreign certificate by closing after the handshake, without an alert: from
  // the client that is indistinguishable from a proxy or a restart dropping the connection.
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const fake = await ingress({ maxVersion });
    const err = await rejection(
      dialer(fake, { credentials: binding.pki.foreignClient }).dial('web.prod', 80),
    );
    assert.equal(err.code, 'INGRESS_RESET', `${maxVersion}: ${err.message}`);
    assert.equal(fake.requests.length, 0);
  }
  // A reset right after the handshake, before the ConnResponse.
  const fake = await ingress({ answer: () => ({ reset: true }) });
  const err = await rejection(dialer(fake, { warmConnections: 0 }).dial('web.prod', 80));
  assert.equal(err.code, 'INGRESS_RESET', err.message);
  assert.match(err.message, /before answering the connection request.*ECONNRESET/);
  assert.doesNotMatch(err.fix, /^The certificate/);
});

test('setCredentials switches certificates for new dials and drops cached sessions', async () => {
  const fake = await ingress();
  const d = dialer(fake, { credentials: binding.pki.foreignClient });
  assert.equal((await rejection(d.dial('web.prod', 80))).code, 'INGRESS_RESET');
  d.setCredentials(binding.pki.client);
  const conn = await d.dial('web.prod', 80);
  conn.socket.destroy();
  assert.ok(d.cachedSessions > 0);
  d.setCredentials(binding.pki.client);
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
  const port = await closedPort();
  const d = binding.dialer(`127.0.0.1:${port}`);
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
  const d = binding.dialer(`127.0.0.1:${port}`, { dialTimeoutMs: 100 });
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

test('the second of two dials uses a warm connection: the ingress sees no handshake for it', async () => {
  const fake = await ingress();
  const d = dialer(fake);
  assert.equal((await dialAndEcho(d)).warm, false);
  await eventually(() => d.warmSockets === 2 && fake.connections === 3, 'two warm connections');
  const second = await d.dial('echo.prod', 5432);
  assert.equal(second.warm, true);
  assert.equal(fake.connections, 3, 'no handshake for the warm dial');
  assert.deepEqual(
    fake.requests.map((r) => r.host),
    ['web.prod', 'echo.prod'],
    'warm connections send nothing until used',
  );
  assert.equal(second.response.endpointId, 'ep_test');
  second.socket.write('pong');
  assert.equal((await readExactly(second.socket, 4)).toString(), 'pong');
  second.socket.destroy();
  await eventually(() => d.warmSockets === 2 && fake.connections === 4, 'one handshake refills the pool');
});

test('warmConnections: 0 never keeps a connection warm', async () => {
  const fake = await ingress();
  const d = dialer(fake, { warmConnections: 0 });
  for (let i = 1; i <= 2; i++) {
    assert.equal((await dialAndEcho(d)).warm, false);
    await sleep(50); // time enough for a background handshake, were there one
    assert.equal(d.warmSockets, 0);
    assert.equal(fake.connections, i);
  }
});

test('a warm connection the ingress closed while idle is noticed; the dial handshakes afresh', async () => {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop);
  await dialAndEcho(d);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  hop.cut();
  await eventually(() => d.warmSockets === 0, 'the dialer noticed');
  assert.equal((await dialAndEcho(d)).warm, false);
});

test('a warm connection that dies before answering is retried once, with a fresh handshake', async () => {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop);
  await dialAndEcho(d);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  hop.dropOnNextData();
  let accepted = hop.accepted;
  const retried = await d.dial('web.prod', 80);
  assert.equal(retried.warm, false);
  assert.equal(hop.accepted, accepted + 1, 'one fresh connection');
  retried.socket.write('ping');
  assert.equal((await readExactly(retried.socket, 4)).toString(), 'ping');
  retried.socket.destroy();
  assert.equal(fake.requests.length, 2, 'the dead connection never delivered its request');

  // Only once: when the fresh attempt fails too, that failure is the answer.
  await eventually(() => d.warmSockets === 2, 'the pool is refilled');
  hop.dropOnNextData();
  hop.targetPort = await closedPort();
  accepted = hop.accepted;
  const err = await rejection(d.dial('web.prod', 80));
  // The hop accepts, then closes when it cannot reach the ingress: a drop in the handshake.
  assert.equal(err.code, 'INGRESS_RESET', err.message);
  assert.equal(hop.accepted, accepted + 1, 'exactly one fresh attempt');
});

test('idle warm connections close after warmIdleMs and are not replaced until the next dial', async () => {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop, { warmIdleMs: 250, warmLingerMs: 0 });
  await dialAndEcho(d);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  await eventually(() => d.warmSockets === 0 && hop.open === 0, 'the idle connections were closed');
  const accepted = hop.accepted;
  await sleep(2 * 250);
  assert.equal(hop.accepted, accepted, 'no refill without a dial');
  assert.equal((await dialAndEcho(d)).warm, false);
  await eventually(() => d.warmSockets === 2, 'a dial refills the pool');
});

test('after warmIdleMs the newest warm connection lingers for warmLingerMs, and serves the first dial after a quiet spell', async () => {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop, { warmIdleMs: 250, warmLingerMs: 60_000 });
  await dialAndEcho(d);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  await eventually(() => d.warmSockets === 1 && hop.open === 1, 'one closed, one lingers');
  await sleep(300);
  assert.equal(d.warmSockets, 1, 'still there past the idle window');
  const accepted = hop.accepted;
  assert.equal((await dialAndEcho(d)).warm, true, 'the first dial after the quiet spell uses it');
  assert.ok(hop.accepted > accepted, 'and the pool refills after it');
  d.close();
});

test('the pool grows to the most dials seen at once (capped by warmMax) and back down when idle', async () => {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop, { warmMax: 5, warmIdleMs: 400, warmLingerMs: 0 });
  const burst = async (): Promise<boolean[]> =>
    Promise.all(
      Array.from({ length: 8 }, async () => {
        const c = await d.dial('web.prod', 80);
        c.socket.destroy();
        return c.warm;
      }),
    );
  await burst();
  await eventually(() => d.warmSockets === 5, 'five ready after a burst of eight (warmMax 5)');
  const warm = await burst();
  assert.equal(warm.filter((w) => w).length, 5, 'the next burst finds five ready');
  await eventually(() => d.warmSockets === 0 && hop.open === 0, 'all closed after the idle window');
  d.close();
});

test('setCredentials and setTrust close the warm connections', async () => {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop);
  await dialAndEcho(d);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  d.setCredentials(binding.pki.client);
  assert.equal(d.warmSockets, 0);
  await eventually(() => hop.open === 0, 'the warm connections were closed');
  assert.equal((await dialAndEcho(d)).warm, false);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  d.setTrust(binding.trust);
  assert.equal(d.warmSockets, 0);
  await eventually(() => hop.open === 0, 'the warm connections were closed');
});

test('an untrusted server certificate never yields a warm connection; dials report INGRESS_UNTRUSTED', async () => {
  const good = await ingress();
  const rogue = await ingress({ identity: binding.pki.untrustedServer });
  const hop = await Hop.start(good.port);
  const d = dialer(hop, { warmConnections: 1 });
  await dialAndEcho(d);
  await eventually(() => d.warmSockets === 1, 'a warm connection');
  hop.targetPort = rogue.port;
  // Verified before the switch, so usable; the handshake that replaces it meets the rogue certificate.
  assert.equal((await dialAndEcho(d)).warm, true);
  await eventually(() => hop.accepted === 3 && hop.open === 0, 'the background handshake failed');
  assert.equal(d.warmSockets, 0);
  const err = await rejection(d.dial('web.prod', 80));
  assert.equal(err.code, 'INGRESS_UNTRUSTED');
  await sleep(50);
  assert.equal(hop.accepted, 4, 'no background handshake after a failed dial');
  assert.equal(rogue.bytesReceived, 0);
  assert.equal(rogue.requests.length, 0);
});

test('close() closes warm connections and the background handshake', async () => {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop);
  const first = await d.dial('web.prod', 80);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  const accepted = hop.accepted;
  hop.stallNew = true;
  const second = await d.dial('web.prod', 80);
  await eventually(() => hop.accepted === accepted + 1, 'the replacement handshake started');
  d.close(); // while that handshake hangs
  assert.equal(d.warmSockets, 0);
  first.socket.destroy();
  second.socket.destroy();
  await eventually(() => hop.open === 0, 'no connection of the dialer is left');
  await sleep(50);
  assert.equal(hop.accepted, accepted + 1, 'nothing dialed after close()');
});

test('a full warm pool does not keep the process alive', async () => {
  const fake = await ingress();
  const child = `
    const { BindingDialer } = await import(${JSON.stringify(new URL('../../../../main/engine/binding/dialer.ts', import.meta.url).href)});
    const options = JSON.parse(process.env.DIALER_OPTIONS);
    options.trust = { ca: options.ca, sources: [], extraCount: options.ca.length };
    const d = new BindingDialer(options);
    (await d.dial('web.prod', 80)).socket.destroy();
    while (d.warmSockets < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    process.stdout.write('pool full');
  `;
  const options = {
    ingress: fake.address,
    servername: INGRESS_NAME,
    credentials: binding.pki.client,
    ca: binding.trust.ca,
    warmIdleMs: 60_000,
  };
  // Without close(): were the pool's sockets or timers referenced, the child would outlive the timeout.
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', child], {
    env: { ...process.env, DIALER_OPTIONS: JSON.stringify(options) },
    timeout: 10_000,
  });
  assert.equal(stdout, 'pool full');
});

test(
  'every ingress connection, warm ones included, has TCP keepalive with short timers',
  { skip: process.platform !== 'linux' && 'reads the options back with Linux getsockopt numbers' },
  async () => {
    const fake = await ingress();
    const d = dialer(fake, { keepalive: { idleMs: 7_000, intervalMs: 2_000, count: 4 } });
    const conn = await d.dial('web.prod', 80);
    const expected = { enabled: true, idleS: 7, intervalS: 2, count: 4, userTimeoutMs: 15_000 };
    assert.deepEqual(keepaliveState(conn.socket), expected);
    conn.socket.destroy();
    await eventually(() => d.warmSockets === 2, 'two warm connections');
    const warm = await d.dial('web.prod', 80);
    assert.equal(warm.warm, true);
    assert.deepEqual(keepaliveState(warm.socket), expected);
    warm.socket.destroy();
    // The default: a dead path is noticed within 30 s.
    const plain = dialer(fake, { warmConnections: 0 });
    const defaults = await plain.dial('web.prod', 80);
    assert.deepEqual(keepaliveState(defaults.socket), {
      enabled: true,
      idleS: 15,
      intervalS: 5,
      count: 3,
      userTimeoutMs: 30_000,
    });
    defaults.socket.destroy();
  },
);

test('resetPath drops warm connections and cached sessions: the next dial goes fresh, and works', async () => {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop);
  await dialAndEcho(d);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  await dialAndEcho(d); // a warm connection that reads brings the server's session tickets
  await eventually(() => d.cachedSessions > 0 && d.warmSockets === 2, 'sessions cached, pool full');
  // The path dies silently under the warm connections (a NAT mapping lost in sleep): without the
  // reset the next dial would wait on one of them for the whole dial timeout.
  hop.freeze();
  d.resetPath();
  assert.equal(d.warmSockets, 0);
  assert.equal(d.cachedSessions, 0);
  const requests = fake.requests.length;
  const conn = await dialAndEcho(d);
  assert.equal(conn.warm, false);
  assert.equal(conn.resumed, false, 'no session of the old path was offered');
  assert.equal(fake.requests.length, requests + 1, 'answered on the first try');
});

test('EarlyBytes: written before and after attach, in order; again after a detach; nowhere once refused', async () => {
  const sink: Buffer[] = [];
  const writable = { write: (chunk: Buffer) => sink.push(chunk) > 0 } as unknown as NodeJS.WritableStream;
  const early = new EarlyBytes(8);
  assert.equal(early.write(Buffer.from('abc')), true);
  early.attach(writable as never);
  assert.equal(early.write(Buffer.from('defgh')), false, 'at the limit: hold the client');
  assert.equal(Buffer.concat(sink).toString(), 'abcdefgh');
  early.detach();
  sink.length = 0;
  early.attach(writable as never);
  assert.equal(Buffer.concat(sink).toString(), 'abcdefgh', 'a replacement connection gets all of it again');
  early.settle(true);
  early.write(Buffer.from('!'));
  assert.equal(Buffer.concat(sink).toString(), 'abcdefgh!', 'answered: straight through');
  const refused = new EarlyBytes();
  sink.length = 0;
  refused.attach(writable as never);
  refused.settle(false);
  refused.write(Buffer.from('lost'));
  assert.equal(sink.length, 0);
});

test('early bytes ride right behind the ConnRequest: an ingress that answers only after them answers', async () => {
  const fake = await ingress({ holdAnswerForEarlyBytes: true });
  const d = dialer(fake, { earlyData: 'on' });
  assert.equal(d.sendsEarlyData(), true);
  for (const warm of [false, true]) {
    const early = new EarlyBytes();
    early.write(Buffer.from('hello '));
    early.write(Buffer.from('world'));
    const conn = await d.dial('web.prod', 80, { early });
    assert.equal(conn.warm, warm);
    early.write(Buffer.from('!')); // after the answer, before the caller took over
    assert.equal((await readExactly(conn.socket, 12)).toString(), 'hello world!');
    conn.socket.destroy();
    await eventually(() => d.warmSockets > 0, 'a warm connection');
  }
  assert.ok(fake.earlyBytes >= 22, `the ingress had the bytes before answering (${fake.earlyBytes})`);
  assert.equal(d.earlyDials, 2);
});

/** An ingress behind a Hop, and a dialer (early data on) whose pool holds two warm connections. */
async function warmEarlyDialer(
  earlyRetryWindowMs: number,
): Promise<{ fake: FakeIngress; hop: Hop; d: BindingDialer }> {
  const fake = await ingress();
  const hop = await Hop.start(fake.port);
  const d = dialer(hop, { earlyData: 'on', earlyRetryWindowMs });
  await dialAndEcho(d);
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  return { fake, hop, d };
}

test('a stale warm connection with early bytes: retried fresh, and the bytes arrive once, in order', async () => {
  // Loopback answers in microseconds; the window only has to outlast a loaded event loop here.
  const { hop, d } = await warmEarlyDialer(10_000);
  hop.dropOnNextData();
  const early = new EarlyBytes();
  early.write(Buffer.from('one,'));
  const conn = await d.dial('web.prod', 80, { early });
  assert.equal(conn.warm, false);
  assert.equal(d.warmStale, 1);
  conn.socket.write('two');
  assert.equal((await readExactly(conn.socket, 7)).toString(), 'one,two');
  conn.socket.destroy();
});

test('the early-data probe: an ingress that keeps early bytes is `kept`, one that drops them `dropped`', async () => {
  const seen: string[] = [];
  const web = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(204).end();
  });
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => web.close(() => resolve())));
  const webPort = (web.address() as { port: number }).port;
  const answer = (req: { host: string }) =>
    req.host === 'web.prod'
      ? { backendPort: webPort }
      : { errorCode: 'ERR_NGROK_8012', errorMessage: 'no endpoint online' };

  const keeping = dialer(await ingress({ answer }));
  assert.equal(keeping.sendsEarlyData(), false, 'auto: not before the ingress has shown it keeps them');
  assert.equal(await keeping.probeEarlyData('web.prod', 80), 'kept');
  assert.deepEqual(seen, ['OPTIONS *']);
  keeping.learnEarlyData('web.prod', 80);
  keeping.learnEarlyData('web.prod', 80); // a second connection while the probe is out
  await eventually(() => keeping.sendsEarlyData(), 'learned');
  assert.equal(keeping.earlyDataVerdict, 'kept');
  assert.deepEqual(seen, ['OPTIONS *', 'OPTIONS *'], 'one probe at a time');

  seen.length = 0;
  const dropping = dialer(await ingress({ answer, earlyData: 'drop' }), { earlyProbeTimeoutMs: 300 });
  assert.equal(await dropping.probeEarlyData('web.prod', 80), 'dropped');
  assert.deepEqual(seen, [], 'the service never saw the probe');
  assert.equal(await dropping.probeEarlyData('gone.prod', 80), 'unknown', 'a refused dial tells nothing');
  dropping.learnEarlyData('web.prod', 80);
  await eventually(() => dropping.earlyDataVerdict === 'dropped', 'learned');
  assert.equal(dropping.sendsEarlyData(), false);

  const off = dialer(await ingress({ answer }), { earlyData: 'off' });
  off.learnEarlyData('web.prod', 80);
  assert.equal(off.earlyDataVerdict, 'unknown', 'off: no probe');
  assert.equal(off.sendsEarlyData(), false);
});

test('a warm connection that took early bytes and died later is not retried: the bytes are never sent twice', async () => {
  const { fake, hop, d } = await warmEarlyDialer(100);
  const requests = fake.requests.length;
  const accepted = hop.accepted;
  hop.dropAnswerAndCloseAfter(400);
  const early = new EarlyBytes();
  early.write(Buffer.from('POST /pay HTTP/1.1\r\n\r\n'));
  const err = await rejection(d.dial('web.prod', 80, { early }));
  assert.equal(err.code, 'INGRESS_RESET', err.message);
  assert.equal(fake.requests.length, requests + 1, 'the ingress got the request once');
  assert.equal(hop.accepted, accepted, 'no second connection');
});

test('the probe uses a connection of its own; 400 and 408 answers, a cut request and resetPath are not `kept`', async () => {
  let status = 204;
  const web = createHttpServer((_req, res) => res.writeHead(status).end());
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => web.close(() => resolve())));
  const webPort = (web.address() as { port: number }).port;
  const keeping = await ingress({ answer: () => ({ backendPort: webPort }) });
  const d = dialer(keeping);
  await dialAndEcho(d).catch(() => undefined); // fills the pool (the HTTP backend echoes nothing)
  await eventually(() => d.warmSockets === 2, 'two warm connections');
  const counts = [d.warmHits, d.warmMisses, d.warmSockets];
  assert.equal(await d.probeEarlyData('web.prod', 80), 'kept');
  assert.deepEqual([d.warmHits, d.warmMisses, d.warmSockets], counts, "the pool is the user's");
  for (const refused of [400, 408]) {
    status = refused;
    assert.equal(await d.probeEarlyData('web.prod', 80), 'dropped', `a ${refused}`);
  }
  status = 204;
  // A server that reads the header through a buffered reader loses the request line sent with it.
  const cutting = dialer(
    await ingress({ answer: () => ({ backendPort: webPort }), earlyData: 'drop-first-read' }),
    {
      earlyProbeTimeoutMs: 2000,
    },
  );
  assert.equal(await cutting.probeEarlyData('web.prod', 80), 'dropped');

  d.learnEarlyData('web.prod', 80);
  await eventually(() => d.earlyDataVerdict === 'kept', 'learned');
  d.resetPath();
  assert.equal(d.earlyDataVerdict, 'unknown', 'another path may be another ingress');
  assert.equal(d.sendsEarlyData(), false);
});
