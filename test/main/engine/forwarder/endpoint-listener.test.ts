import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Agent, createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { parseEndpointUrl } from '../../../../main/common/endpoint-url.ts';
import type { ListenSocket } from '../../../../main/common/privileged.ts';
import type { BindingDialer } from '../../../../main/engine/binding/dialer.ts';
import { FrameAccumulator, encodeConnResponse } from '../../../../main/engine/binding/frames.ts';
import { resetConnection } from '../../../../main/system/abortive-close.ts';
import { EndpointListener } from '../../../../main/engine/forwarder/endpoint-listener.ts';
import { RequestStore } from '../../../../main/engine/inspector/store.ts';
import {
  createBindingFixture,
  eventually,
  type BindingFixture,
  type FakeIngress,
} from '../../../support/tls-fixtures.ts';
import { httpRequest } from '../../../support/http.ts';
import { readEnd } from '../../../support/read-end.ts';

let binding: BindingFixture;
let ingress: FakeIngress;
let dialer: BindingDialer;
let httpBackend: HttpServer;
let echoBackend: Server;
let halfCloseBackend: Server;
const hostsSeen: (string | undefined)[] = [];
const listeners: EndpointListener[] = [];
const servers: { close(cb: () => void): unknown }[] = [];

function portOf(server: { address(): unknown }): number {
  return (server.address() as { port: number }).port;
}

async function listenLocal<T extends { listen(port: number, host: string): unknown }>(server: T): Promise<T> {
  server.listen(0, '127.0.0.1');
  await once(server as unknown as NodeJS.EventEmitter, 'listening');
  return server;
}

before(async () => {
  binding = await createBindingFixture('ngrokd-forwarder-');
  httpBackend = await listenLocal(
    createHttpServer((req, res) => {
      hostsSeen.push(req.headers.host);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        res.end(`backend saw ${req.method} ${req.url} body=${Buffer.concat(chunks).length}`),
      );
    }),
  );
  echoBackend = await listenLocal(createNetServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket)));
  // Answers only after the client's FIN: proves the client can still read after ending its side.
  halfCloseBackend = await listenLocal(
    createNetServer({ allowHalfOpen: true }, (socket) => {
      let received = 0;
      socket.on('data', (c: Buffer) => (received += c.length));
      socket.on('end', () => socket.end(`received ${received} bytes after your FIN`));
    }),
  );
  servers.push(httpBackend, echoBackend, halfCloseBackend);

  ingress = await binding.ingress({
    answer: (req) => {
      if (req.host === 'web.prod') return { backendPort: portOf(httpBackend) };
      if (req.host === 'echo.prod') return { backendPort: portOf(echoBackend) };
      if (req.host === 'half.prod') return { backendPort: portOf(halfCloseBackend) };
      return { errorCode: 'ERR_NGROK_28001', errorMessage: `policy denies ${req.host}` };
    },
  });
  dialer = binding.dialer(ingress.address);
});

after(async () => {
  for (const listener of listeners) await listener.close();
  await ingress.close();
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  binding.removeDir();
});

async function listener(
  url: string,
  withDialer: BindingDialer = dialer,
  idleTimeoutMs?: number,
  inspector?: RequestStore,
): Promise<EndpointListener> {
  const server = await listenLocal(createNetServer());
  const socket: ListenSocket = { server, port: portOf(server) };
  const created = new EndpointListener({
    socket,
    address: parseEndpointUrl(url),
    dialer: withDialer,
    idleTimeoutMs,
    inspector,
  });
  listeners.push(created);
  return created;
}

/** Connect, send `data`, end our side, collect everything until the other side ends. */
async function exchange(port: number, data: Buffer): Promise<{ received: Buffer; error: Error | null }> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let error: Error | null = null;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', (err) => (error = err));
  socket.end(data);
  await once(socket, 'close');
  return { received: Buffer.concat(chunks), error };
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('HTTP through the forwarder returns the backend answer', async () => {
  const web = await listener('http://web.prod');
  const answer = await httpRequest('127.0.0.1', web.port, { path: '/hello', headers: { host: 'web.prod' } });
  assert.equal(answer.status, 200);
  assert.equal(answer.body, 'backend saw GET /hello body=0');
  assert.deepEqual(ingress.requests.at(-1), { host: 'web.prod', port: 80 });
  assert.equal(hostsSeen.at(-1), 'web.prod');
});

test('a client that connected by IP gets Host rewritten on every keep-alive request', async () => {
  const web = await listener('http://web.prod');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const before = hostsSeen.length;
  const connectionsBefore = web.counters.total;
  for (const path of ['/1', '/2']) await httpRequest('127.0.0.1', web.port, { path, agent });
  const posted = await httpRequest('127.0.0.1', web.port, {
    method: 'POST',
    path: '/3',
    agent,
    body: 'x'.repeat(10_000),
  });
  assert.equal(posted.body, 'backend saw POST /3 body=10000');
  agent.destroy();
  // The client sent Host: 127.0.0.1:<port>; the backend saw the endpoint host each time, on one connection.
  assert.deepEqual(hostsSeen.slice(before), ['web.prod', 'web.prod', 'web.prod']);
  assert.equal(web.counters.total - connectionsBefore, 1);
});

test('a 16 MiB TCP echo comes back intact, and the counters add up', async () => {
  const echo = await listener('tcp://echo.prod:5432');
  const payload = randomBytes(16 * 1024 * 1024);
  const { received, error } = await exchange(echo.port, payload);
  assert.equal(error, null);
  assert.equal(received.length, payload.length);
  assert.equal(sha256(received), sha256(payload));
  assert.deepEqual(ingress.requests.at(-1), { host: 'echo.prod', port: 5432 });
  await eventually(() => echo.counters.active === 0, 'the connection is closed');
  const snapshot = echo.counters.snapshot();
  assert.equal(snapshot.bytes_out, payload.length);
  assert.equal(snapshot.bytes_in, payload.length);
  assert.equal(snapshot.connections_total, 1);
  assert.equal(snapshot.connections, 0);
  assert.equal(snapshot.errors, 0);
  assert.equal(typeof snapshot.upgrade_ms_p50, 'number');
});

test('half-close: a client that ended its side still receives the answer', async () => {
  const half = await listener('tcp://half.prod:7000');
  const { received, error } = await exchange(half.port, Buffer.from('some request'));
  assert.equal(error, null);
  assert.equal(received.toString(), 'received 12 bytes after your FIN');
});

test('a refused upgrade answers HTTP clients with a 502 naming the ngrok code', async () => {
  const denied = await listener('http://denied.prod');
  const answer = await httpRequest('127.0.0.1', denied.port, { headers: { host: 'denied.prod' } });
  assert.equal(answer.status, 502);
  assert.equal(answer.headers.connection, 'close');
  assert.match(answer.body, /ERR_NGROK_28001: .*policy denies denied\.prod/);
  const snapshot = denied.counters.snapshot();
  assert.equal(snapshot.errors, 1);
  assert.equal(snapshot.last_error?.code, 'UPGRADE_REFUSED');
  assert.equal(snapshot.last_error?.ngrokCode, 'ERR_NGROK_28001');
  assert.equal(snapshot.upgrade_ms_p50, null);
});

test('a refused upgrade closes TCP clients cleanly', async () => {
  const denied = await listener('tcp://denied.prod:9000');
  const { received, error } = await exchange(denied.port, Buffer.from('hello?'));
  assert.equal(error, null, 'closed with FIN, not reset');
  assert.equal(received.length, 0);
  assert.equal(denied.counters.errors, 1);
});

test('an untrusted ingress certificate: 502 INGRESS_UNTRUSTED, and not a byte reaches the ingress', async () => {
  const rogue = await binding.ingress({
    identity: binding.pki.untrustedServer,
    answer: () => ({ backendPort: portOf(httpBackend) }),
  });
  const rogueDialer = binding.dialer(rogue.address);
  const web = await listener('http://web.prod', rogueDialer);
  const answer = await httpRequest('127.0.0.1', web.port, { headers: { host: 'web.prod' } });
  assert.equal(answer.status, 502);
  assert.match(answer.body, /INGRESS_UNTRUSTED/);
  assert.equal(rogue.bytesReceived, 0);
  assert.equal(web.counters.lastError?.code, 'INGRESS_UNTRUSTED');
  await web.close();
  await rogue.close();
});

test('a client certificate the ingress drops without a TLS alert: INGRESS_RESET', async () => {
  const foreign = binding.dialer(ingress.address, { credentials: binding.pki.foreignClient });
  const echo = await listener('tcp://echo.prod:5432', foreign);
  const { received } = await exchange(echo.port, Buffer.from('ping'));
  assert.equal(received.length, 0);
  assert.equal(echo.counters.lastError?.code, 'INGRESS_RESET');
});

test('later connections resume the TLS session', async () => {
  // Without the warm pool: its background handshakes would resume sessions too.
  const fresh = binding.dialer(ingress.address, { warmConnections: 0 });
  const echo = await listener('tcp://echo.prod:5432', fresh);
  const resumedBefore = ingress.resumptions;
  for (let i = 0; i < 3; i++) {
    const { received } = await exchange(echo.port, Buffer.from(`ping ${i}`));
    assert.equal(received.toString(), `ping ${i}`);
  }
  assert.equal(ingress.resumptions - resumedBefore, 2);
});

/**
 * An ingress that answers every ConnRequest with success and then hands the TLS socket to
 * `script`: the failures a real ingress (or the path to it) can produce, over real TLS.
 */
async function scriptedIngress(script: (socket: TLSSocket) => void): Promise<{ dialer: BindingDialer }> {
  const server = createTlsServer({
    key: binding.pki.server.keyPem,
    cert: binding.pki.server.certPem,
    ca: [binding.pki.clientCA.certPem],
    requestCert: true,
    rejectUnauthorized: true,
    allowHalfOpen: true,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => {});
    const frames = new FrameAccumulator();
    const onData = (chunk: Buffer): void => {
      if (frames.push(chunk) === null) return;
      socket.off('data', onData);
      socket.write(encodeConnResponse({ endpointId: 'ep_script', proto: 'tcp' }));
      script(socket);
    };
    socket.on('data', onData);
  });
  await listenLocal(server);
  servers.push(server);
  // No warm pool: a warm connection would be taken by whichever test dials next.
  return { dialer: binding.dialer(`127.0.0.1:${portOf(server)}`, { warmConnections: 0 }) };
}

const MIB = 1024 * 1024;

test('an ingress reset mid-download reaches the client as ECONNRESET, not as a short clean end', async () => {
  const { dialer: resetting } = await scriptedIngress((socket) => {
    socket.write(Buffer.alloc(32 * MIB));
    // Most of it is still on its way.
    setImmediate(() => resetConnection(socket));
  });
  const download = await listener('tcp://download.prod:9000', resetting);
  const client = connect({ port: download.port, host: '127.0.0.1', allowHalfOpen: true });
  const { end, received } = await readEnd(client);
  assert.ok(received < 32 * MIB, `the download was cut short (${received} bytes)`);
  assert.equal(end, 'ECONNRESET');
  await eventually(() => download.counters.active === 0, 'the connection is closed');
  assert.equal(download.counters.lastError?.code, 'INGRESS_RESET');
  assert.match(download.counters.lastError?.message ?? '', /download\.prod:9000 .* after \d+ bytes/);
  assert.equal(download.counters.snapshot().last_ingress_error, 'INGRESS_RESET');
});

test('an ingress that ends cleanly after the download gives the client all of it and a clean FIN', async () => {
  const { dialer: clean } = await scriptedIngress((socket) => socket.end(Buffer.alloc(16 * MIB)));
  const download = await listener('tcp://download.prod:9001', clean);
  const client = connect({ port: download.port, host: '127.0.0.1', allowHalfOpen: true });
  assert.deepEqual(await readEnd(client), { end: 'fin', received: 16 * MIB });
  assert.equal(download.counters.errors, 0);
});

test('a client that resets its upload resets the ingress connection too', async () => {
  let ingressSide: ((result: { end: string; received: number }) => void) | undefined;
  const ingressEnded = new Promise<{ end: string; received: number }>((resolve) => (ingressSide = resolve));
  let accepted: () => void = () => {};
  const connected = new Promise<void>((resolve) => (accepted = resolve));
  const { dialer: uploadIngress } = await scriptedIngress((socket) => {
    void readEnd(socket).then((result) => ingressSide?.(result));
    accepted();
  });
  const upload = await listener('tcp://upload.prod:9002', uploadIngress);
  const client = connect({ port: upload.port, host: '127.0.0.1' });
  client.on('error', () => {});
  for (let i = 0; i < 128; i++) client.write(Buffer.alloc(64 * 1024));
  await connected;
  await eventually(() => upload.counters.bytesOut > 0, 'the upload is under way');
  client.resetAndDestroy();
  const { end, received } = await ingressEnded;
  assert.ok(received < 8 * MIB);
  assert.equal(end, 'ECONNRESET', 'the ingress saw the upload torn down, not a complete one');
  await eventually(() => upload.counters.active === 0, 'the connection is closed');
  assert.equal(upload.counters.errors, 0, "the client's reset is not an ingress error");
});

test('a declined Upgrade: h2c keeps the Host rewrite for the following requests of the connection', async () => {
  const web = await listener('http://web.prod');
  const before = hostsSeen.length;
  const client = connect({ port: web.port, host: '127.0.0.1' });
  let buffered = '';
  client.setEncoding('latin1');
  client.on('data', (c: string) => (buffered += c));
  for (const path of ['/1', '/2', '/3']) {
    client.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nConnection: Upgrade, HTTP2-Settings\r\n` +
        'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
    );
    await eventually(() => buffered.includes(`backend saw GET ${path} body=0`), `the answer to ${path}`);
  }
  client.destroy();
  assert.deepEqual(hostsSeen.slice(before), ['web.prod', 'web.prod', 'web.prod']);
});

test('HTTP/2 prior knowledge passes through unchanged, counted', async () => {
  const echoHttp = await listener('http://echo.prod:8080');
  const preface = Buffer.from(
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00',
    'latin1',
  );
  const { received, error } = await exchange(echoHttp.port, preface);
  assert.equal(error, null);
  assert.deepEqual(received, preface);
  assert.equal(echoHttp.counters.h2cConnections, 1);
});

test('idle_timeout: traffic either way keeps a connection open; silence closes it cleanly, counted', async () => {
  const idleMs = 2_000;
  const echo = await listener('tcp://echo.prod:5432', dialer, idleMs);
  const socket = connect({ port: echo.port, host: '127.0.0.1' });
  let error: Error | null = null;
  let ended = false;
  socket.on('error', (err) => (error = err));
  socket.on('end', () => (ended = true));
  await once(socket, 'connect');
  // A conversation longer than the timeout, never silent for long: it must not be cut.
  const startedAt = Date.now();
  let rounds = 0;
  while (Date.now() - startedAt < idleMs * 1.5) {
    socket.write(`ping ${rounds}\n`);
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    assert.match(chunk.toString(), /^ping \d+/);
    rounds++;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(ended, false, 'an active connection is not closed by the idle timeout');
  assert.equal(echo.counters.idleTimeouts, 0);
  // Then silence: the forwarder closes it, cleanly (FIN, not a reset).
  const silentFrom = Date.now();
  await once(socket, 'close');
  assert.ok(Date.now() - silentFrom >= idleMs - 100, 'closed only after the idle timeout');
  assert.equal(ended, true, 'the client saw a clean end');
  assert.equal(error, null);
  assert.equal(echo.counters.idleTimeouts, 1);
  assert.equal(echo.counters.errors, 0);
});

/** An ingress like the shared one, with other early-data behaviour, and a dialer to it. */
async function earlyIngress(
  options: { earlyData?: 'keep' | 'drop'; holdAnswerForEarlyBytes?: boolean; answerDelayMs?: number },
  dialerOptions: Parameters<BindingFixture['dialer']>[1],
): Promise<{ fake: FakeIngress; early: BindingDialer }> {
  const fake = await binding.ingress({
    answer: (req) => {
      if (req.host === 'web.prod') return { backendPort: portOf(httpBackend) };
      if (req.host === 'echo.prod') return { backendPort: portOf(echoBackend) };
      if (req.host === 'half.prod') return { backendPort: portOf(halfCloseBackend) };
      return { errorCode: 'ERR_NGROK_28001', errorMessage: `policy denies ${req.host}` };
    },
    ...options,
  });
  servers.push({ close: (cb) => void fake.close().then(cb) });
  const early = binding.dialer(fake.address, dialerOptions);
  servers.push({ close: (cb) => (early.close(), cb()) });
  return { fake, early };
}

/** A request with a random body of `size` bytes (text); the backend must report all of it. */
async function sendBody(
  port: number,
  method: string,
  path: string,
  host: string,
  size: number,
): Promise<void> {
  const body = randomBytes(size / 2).toString('hex');
  const answer = await httpRequest('127.0.0.1', port, {
    method,
    path,
    headers: { host, 'content-length': String(body.length) },
    body,
  });
  assert.equal(answer.body, `backend saw ${method} ${path} body=${body.length}`);
}

test('early data, auto: after the probe finds the ingress keeps early bytes, connections send them behind the ConnRequest', async () => {
  const { early } = await earlyIngress({}, {});
  const web = await listener('http://web.prod', early);
  const first = await httpRequest('127.0.0.1', web.port, { path: '/one', headers: { host: '10.107.0.9' } });
  assert.equal(first.body, 'backend saw GET /one body=0', 'the first connection waits for the answer');
  await eventually(() => early.earlyDataVerdict === 'kept', 'the probe answered');
  const dials = early.earlyDials;
  await sendBody(web.port, 'POST', '/two', '10.107.0.9', 200 * 1024);
  assert.equal(hostsSeen.at(-1), 'web.prod', 'early bytes are Host-rewritten too');
  assert.equal(early.earlyDials, dials + 1);
});

test('early data, auto: an ingress that drops early bytes is found out by the probe; no client byte is ever sent early', async () => {
  const { fake, early } = await earlyIngress({ earlyData: 'drop' }, { earlyProbeTimeoutMs: 300 });
  const web = await listener('http://web.prod', early);
  const echo = await listener('tcp://echo.prod:7', early);
  for (let i = 0; i < 3; i++) {
    const answer = await httpRequest('127.0.0.1', web.port, {
      path: `/n${i}`,
      headers: { host: 'web.prod' },
    });
    assert.equal(answer.body, `backend saw GET /n${i} body=0`);
  }
  await eventually(() => early.earlyDataVerdict === 'dropped', 'the probe got no answer');
  const data = randomBytes(256 * 1024);
  const { received } = await exchange(echo.port, data);
  assert.equal(sha256(received), sha256(data));
  assert.equal(early.earlyDials, 0, 'no dial carried early bytes (the probe has a connection of its own)');
  assert.ok(fake.earlyBytes > 0, 'the probe was dropped');
});

test('early data, on: bytes past the early limit, HTTP and TCP, arrive whole and in order', async () => {
  const { fake, early } = await earlyIngress({ holdAnswerForEarlyBytes: true }, { earlyData: 'on' });
  const web = await listener('http://web.prod', early);
  const echo = await listener('tcp://echo.prod:7', early);
  await sendBody(web.port, 'PUT', '/big', 'web.prod', 600 * 1024);
  const data = randomBytes(1024 * 1024);
  const { received } = await exchange(echo.port, data);
  assert.equal(sha256(received), sha256(data));
  assert.ok(fake.earlyBytes > 0);
  assert.equal(early.earlyDials, 2);
});

test('early data, on: a client that ends its side while the dial is on still gets the answer, and is recorded', async () => {
  // The ingress answers late, so the client's FIN comes before the dial is over.
  const { early } = await earlyIngress({ answerDelayMs: 200 }, { earlyData: 'on' });
  const half = await listener('tcp://half.prod:9', early);
  const { received, error } = await exchange(half.port, Buffer.from('hello'));
  assert.equal(error, null);
  assert.equal(received.toString(), 'received 5 bytes after your FIN');
  const store = new RequestStore();
  const web = await listener('http://web.prod', early, undefined, store);
  const answer = await httpRequest('127.0.0.1', web.port, { path: '/early', headers: { host: 'web.prod' } });
  assert.equal(answer.body, 'backend saw GET /early body=0');
  await eventually(() => store.list().length === 1, 'recorded');
  assert.equal(store.list()[0]?.status, 200);
  assert.equal(early.earlyDials, 2);
});

test('early data, on: a refused upgrade still answers the 502, and the inspector records it so', async () => {
  const { early } = await earlyIngress({}, { earlyData: 'on' });
  const store = new RequestStore();
  const denied = await listener('http://denied.prod', early, undefined, store);
  const answer = await httpRequest('127.0.0.1', denied.port, {
    path: '/x',
    headers: { host: 'denied.prod' },
  });
  assert.equal(answer.status, 502);
  assert.match(answer.body, /ERR_NGROK_28001/);
  await eventually(() => store.list().length === 1, 'recorded');
  const [record] = store.list();
  assert.equal(record?.status, 502);
  assert.equal(record?.error, 'ERR_NGROK_28001');
  assert.equal(record?.path, '/x');
});

test('close() stops listening and destroys active connections, leaving no open handles', async () => {
  const echo = await listener('tcp://echo.prod:5432');
  const clients: Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const client = connect({ port: echo.port, host: '127.0.0.1' });
    client.on('error', () => {});
    client.write('hold');
    await once(client, 'data');
    clients.push(client);
  }
  assert.equal(echo.activeConnections, 3);
  await echo.close();
  assert.equal(echo.activeConnections, 0);
  for (const client of clients) if (!client.closed) await once(client, 'close');
  await assert.rejects(
    new Promise((resolve, reject) =>
      connect({ port: echo.port, host: '127.0.0.1' }).on('connect', resolve).on('error', reject),
    ),
    { code: 'ECONNREFUSED' },
  );

  // Once the test servers are gone too, no socket of any kind may remain.
  for (const l of listeners) await l.close();
  listeners.length = 0;
  await ingress.close();
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()));
  // (PipeWrap is the runner's stdout/stderr.)
  const sockets = () => process.getActiveResourcesInfo().filter((r) => /^(TCP|TLS)/.test(r));
  await eventually(() => sockets().length === 0, 'no TCP or TLS handle is left');
});
