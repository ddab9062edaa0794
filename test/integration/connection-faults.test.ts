/**
 * What a client sees when a forwarded connection fails, through the real engine and the simulator:
 * a drop is a reset (ECONNRESET) both ways, never a clean, short end; and the Host rewrite follows
 * the server's answer to an upgrade request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { startEngineHarness, type EngineHarness } from '../support/engine-fixture.ts';
import { httpRequest } from '../support/http.ts';
import { eventually } from '../support/tls-fixtures.ts';
import type { EndpointView } from '../../main/common/contract.ts';
import { readEnd } from '../support/read-end.ts';

const SUBNET = '127.133.0.0/16';
const MIB = 1024 * 1024;

describe('connection faults through the engine', () => {
  let h: EngineHarness;
  let uploadBackend: net.Server;
  const uploadEnds: Promise<{ end: string; received: number }>[] = [];

  const endpoint = (hostname: string): EndpointView => {
    const found = h.engine.endpoints().find((e) => e.hostname === hostname);
    assert.ok(found, `endpoint ${hostname} not listed`);
    return found;
  };

  before(async () => {
    uploadBackend = net.createServer({ allowHalfOpen: true }, (socket) => uploadEnds.push(readEnd(socket)));
    uploadBackend.listen(0, '127.0.0.1');
    await once(uploadBackend, 'listening');
    const port = (uploadBackend.address() as net.AddressInfo).port;
    h = await startEngineHarness({
      subnet: SUBNET,
      sim: {
        endpoints: [
          { url: 'http://files.faults' },
          { url: 'tcp://upload.faults:7000', backend: { host: '127.0.0.1', port } },
        ],
      },
    });
  });
  after(async () => {
    await h.close();
    await new Promise<void>((resolve) => uploadBackend.close(() => resolve()));
  });

  test('an ingress reset mid-download: the client gets ECONNRESET, not a short complete answer', async () => {
    const e = endpoint('files.faults');
    h.sim.ingress.resetAfterBytes = 16 * MIB;
    try {
      const client = net.connect({ host: e.ip, port: e.listen_port, allowHalfOpen: true });
      client.write(`GET /bytes/${64 * MIB} HTTP/1.1\r\nHost: files.faults\r\n\r\n`);
      const { end, received } = await readEnd(client);
      assert.ok(received <= 16 * MIB, `cut short at the ingress (${received} bytes)`);
      assert.equal(end, 'ECONNRESET');
    } finally {
      h.sim.ingress.resetAfterBytes = null;
    }
    await eventually(() => endpoint('files.faults').connections === 0, 'the connection is closed');
    const after = endpoint('files.faults');
    assert.equal(after.last_error?.code, 'INGRESS_RESET');
    assert.equal(after.last_ingress_error, 'INGRESS_RESET');
    assert.ok(
      after.last_ok_at !== null && Date.parse(after.last_ok_at) > 0,
      'the upgrade itself went through',
    );
  });

  test('a client that resets its upload tears the ingress side down: the backend sees a reset', async () => {
    const e = endpoint('upload.faults');
    const before = { ...h.sim.ingress.clientEnds };
    const backendsBefore = uploadEnds.length;
    const client = net.connect({ host: e.ip, port: e.listen_port });
    client.on('error', () => {});
    for (let i = 0; i < 128; i++) client.write(Buffer.alloc(64 * 1024));
    await eventually(() => uploadEnds.length > backendsBefore, 'the ingress reached the backend');
    await eventually(() => endpoint('upload.faults').bytes_out > 0, 'the upload is under way');
    client.resetAndDestroy();
    const backend = await uploadEnds[backendsBefore];
    assert.ok(backend !== undefined);
    assert.ok(backend.received < 8 * MIB);
    assert.equal(backend.end, 'ECONNRESET', 'the backend saw the upload torn down, not complete');
    assert.equal(h.sim.ingress.clientEnds.reset, before.reset + 1);
    assert.equal(h.sim.ingress.clientEnds.clean, before.clean);
  });

  test('a declined Upgrade: h2c keeps Host = the endpoint hostname on all requests of a connection', async () => {
    const e = endpoint('files.faults');
    const seen = h.sim.backends.httpRequests.length;
    const client = net.connect({ host: e.ip, port: e.listen_port });
    client.setEncoding('latin1');
    let answers = '';
    client.on('data', (c: string) => (answers += c));
    // What curl --http2 sends for http:// URLs; the backend (node:http) answers 200 over HTTP/1.1.
    for (const path of ['/one', '/two', '/three']) {
      client.write(
        `GET ${path} HTTP/1.1\r\nHost: ${e.ip}:${e.listen_port}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n` +
          'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
      );
      await eventually(() => answers.includes(`"path":"${path}"`), `the answer to ${path}`);
    }
    client.destroy();
    const requests = h.sim.backends.httpRequests.slice(seen);
    assert.deepEqual(
      requests.map((r) => [r.path, r.host]),
      [
        ['/one', 'files.faults'],
        ['/two', 'files.faults'],
        ['/three', 'files.faults'],
      ],
    );
    assert.equal(answers.match(/HTTP\/1\.1 200 /g)?.length, 3);
  });

  test('a reset before the ConnResponse: 502 INGRESS_RESET, and the code stays after the next success', async () => {
    const e = endpoint('files.faults');
    h.sim.ingress.behaviour = 'reset';
    try {
      const refused = await httpRequest(e.ip, e.listen_port, { headers: { Host: 'files.faults' } });
      assert.equal(refused.status, 502);
      assert.match(refused.body, /INGRESS_RESET/);
    } finally {
      h.sim.ingress.behaviour = 'normal';
    }
    assert.equal(endpoint('files.faults').last_error?.code, 'INGRESS_RESET');
    const okBefore = endpoint('files.faults').last_ok_at;
    const answer = await httpRequest(e.ip, e.listen_port, { headers: { Host: 'files.faults' } });
    assert.equal(answer.status, 200);
    const after = endpoint('files.faults');
    assert.equal(after.last_error, null, 'a success clears the current error');
    assert.equal(after.last_ingress_error, 'INGRESS_RESET', 'what last failed is still shown');
    assert.ok(after.last_ok_at !== null && after.last_ok_at >= (okBefore ?? ''));
  });

  test('a stalled ingress takes the connection and never starts TLS', async () => {
    h.sim.ingress.behaviour = 'stall';
    const stalled = h.sim.ingress.stalledConnections;
    const [host, port] = h.sim.ingressEndpoint.split(':');
    const socket = tls.connect({ host, port: Number(port), servername: h.sim.ingressServerName });
    let events = '';
    socket.on('secureConnect', () => (events += 'secure '));
    socket.on('data', () => (events += 'data '));
    socket.on('error', () => {});
    try {
      await eventually(() => h.sim.ingress.stalledConnections === stalled + 1, 'the ingress took it');
      assert.equal(events, '');
      assert.equal(socket.destroyed, false, 'kept open');
    } finally {
      h.sim.ingress.behaviour = 'normal';
      socket.destroy();
    }
  });
});
