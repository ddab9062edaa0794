/**
 * The request inspector end to end over real sockets: a real engine in user mode, the simulator's
 * ingress and backends, clients that speak keep-alive, pipelining, chunked bodies, WebSocket-style
 * upgrades and HTTP/2 prior knowledge; refused upgrades, redaction, bodies, replay.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { EndpointView, RequestRecord } from '../../main/common/contract.ts';
import { NgrokdError } from '../../main/common/errors.ts';
import { resolveConfig, validateConfig } from '../../main/engine/config.ts';
import { startEngineHarness, type EngineHarness } from '../support/engine-fixture.ts';
import { httpRequest } from '../support/http.ts';
import { userModeEngine } from '../support/user-mode-engine.ts';
import { listen, closeServer } from '../sim/backends.ts';

const SUBNET = '127.135.0.0/16';

/** A backend that upgrades (101) any request with `Upgrade: websocket`, then echoes; /hang never answers. */
async function upgradeBackend(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/hang') res.end('not upgraded');
  });
  server.on('upgrade', (_req, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  return { server, port: await listen(server) };
}

/** Write `bytes` on a fresh connection and read until the server closes (or `until` matches). */
async function rawExchange(ip: string, port: number, bytes: string, until?: RegExp): Promise<string> {
  const socket = net.connect({ host: ip, port });
  await once(socket, 'connect');
  socket.write(bytes);
  let text = '';
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (until?.test(text) === true) resolve();
    });
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  socket.destroy();
  return text;
}

describe('request inspector', () => {
  let harness: EngineHarness;
  let upgrade: { server: http.Server; port: number };

  const endpoint = (hostname: string): EndpointView => {
    const view = harness.engine.endpoints().find((e) => e.hostname === hostname);
    assert.ok(view?.listening, `${hostname} is listening`);
    return view;
  };
  /** Wait until `n` records of `hostname` after `after` are there (the engine's long poll). */
  const records = async (hostname: string, after: number, n: number): Promise<RequestRecord[]> => {
    for (let i = 0; i < 200; i++) {
      const got = await harness.engine.handlers.requests({ endpoint: hostname, after, wait_ms: 200 });
      if (got.length >= n) return got;
    }
    assert.fail(`fewer than ${n} records for ${hostname}`);
  };

  before(async () => {
    upgrade = await upgradeBackend();
    harness = await startEngineHarness({
      subnet: SUBNET,
      sim: {
        endpoints: [
          { url: 'http://api.inspect.test' },
          { url: 'http://ws.inspect.test', backend: { host: '127.0.0.1', port: upgrade.port } },
          { url: 'http://down.inspect.test' },
        ],
      },
      config: { inspect: { bodies: true, max_body_bytes: 1024, redact_headers: ['X-Api-Token'] } },
    });
  });

  after(async () => {
    await harness.close();
    await closeServer(upgrade.server);
  });

  test('keep-alive requests are one record each on one connection, in order', async () => {
    const { ip, listen_port } = endpoint('api.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const replies = [];
    for (const path of ['/one', '/two?x=1', '/three'])
      replies.push(await httpRequest(ip, listen_port, { path, agent }));
    agent.destroy();
    const got = await records('api.inspect.test', start, 3);
    assert.deepEqual(
      got.map((r) => [r.method, r.path, r.status, r.kind]),
      [
        ['GET', '/one', 200, 'http'],
        ['GET', '/two?x=1', 200, 'http'],
        ['GET', '/three', 200, 'http'],
      ],
    );
    assert.equal(new Set(got.map((r) => r.connection_id)).size, 1, 'one connection');
    for (const [i, record] of got.entries()) {
      assert.equal(record.endpoint, 'api.inspect.test');
      assert.equal(record.url, 'http://api.inspect.test:80');
      assert.ok(record.bytes_out > 0);
      // The answer's head plus its body: the body is what the client read.
      assert.ok(record.bytes_in > Buffer.byteLength(replies[i]?.body ?? ''), 'head and body counted');
      assert.equal(typeof record.duration_ms, 'number');
      assert.ok(!Number.isNaN(Date.parse(record.ts)));
    }
  });

  test('pipelined requests are attributed to their own answers', async () => {
    const { ip, listen_port } = endpoint('api.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    const head = (path: string, close = false): string =>
      `GET ${path} HTTP/1.1\r\nHost: api.inspect.test\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
    const answer = await rawExchange(ip, listen_port, head('/p1') + head('/bytes/5000') + head('/p3', true));
    assert.equal(answer.match(/HTTP\/1\.1 200/g)?.length, 3);
    const got = await records('api.inspect.test', start, 3);
    assert.deepEqual(
      got.map((r) => r.path),
      ['/p1', '/bytes/5000', '/p3'],
    );
    assert.equal(new Set(got.map((r) => r.connection_id)).size, 1);
    const big = got[1] as RequestRecord;
    assert.ok(big.bytes_in > 5000 && big.bytes_in < 5300, `bytes_in ${big.bytes_in} is the 5000-byte answer`);
    const sum = got.reduce((n, r) => n + r.bytes_in, 0);
    assert.equal(sum, Buffer.byteLength(answer, 'latin1'), 'every byte of the answers attributed once');
  });

  test('a chunked request body is captured decoded, and the request replays', async () => {
    const { ip, listen_port } = endpoint('api.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    await rawExchange(
      ip,
      listen_port,
      'POST /upload HTTP/1.1\r\nHost: api.inspect.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    );
    const [record] = await records('api.inspect.test', start, 1);
    assert.ok(record !== undefined);
    assert.equal(record.method, 'POST');
    assert.equal(record.status, 200);
    assert.equal(record.replayable, true);
    const detail = await harness.engine.handlers.request({ id: record.id });
    assert.equal(Buffer.from(detail.request_body?.base64 ?? '', 'base64').toString(), 'hello world');
    assert.equal(detail.request_body?.truncated, false);
    const answered = JSON.parse(Buffer.from(detail.response_body?.base64 ?? '', 'base64').toString()) as {
      received_bytes: number;
    };
    assert.equal(answered.received_bytes, 11);

    const backendBefore = harness.sim.backends.httpRequests.length;
    const replayed = await harness.engine.handlers.replay({ id: record.id });
    assert.equal(replayed.replay_of, record.id);
    assert.equal(replayed.status, 200);
    assert.equal(replayed.path, '/upload');
    const seen = harness.sim.backends.httpRequests.slice(backendBefore);
    assert.deepEqual(
      seen.map((r) => [r.method, r.path, r.host]),
      [['POST', '/upload', 'api.inspect.test']],
    );
    const again = await harness.engine.handlers.request({ id: replayed.id });
    const body = JSON.parse(Buffer.from(again.response_body?.base64 ?? '', 'base64').toString()) as {
      received_bytes: number;
    };
    assert.equal(body.received_bytes, 11, 'the same body went again');
  });

  test('a body over the cap is kept truncated, and such a request is refused for replay', async () => {
    const { ip, listen_port } = endpoint('api.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    await httpRequest(ip, listen_port, { method: 'PUT', path: '/big', body: 'x'.repeat(3000) });
    const [record] = await records('api.inspect.test', start, 1);
    assert.ok(record !== undefined);
    assert.equal(record.replayable, false);
    const detail = await harness.engine.handlers.request({ id: record.id });
    assert.equal(detail.request_body?.size, 3000);
    assert.equal(detail.request_body?.truncated, true);
    assert.equal(Buffer.from(detail.request_body?.base64 ?? '', 'base64').length, 1024);
    await assert.rejects(harness.engine.handlers.replay({ id: record.id }) as Promise<unknown>, (err) => {
      assert.ok(err instanceof NgrokdError);
      assert.equal(err.code, 'REPLAY_UNAVAILABLE');
      assert.match(
        err.message,
        new RegExp(`request ${record.id} cannot be replayed: its body was not captured`),
      );
      assert.match(err.fix, /inspect\.bodies/);
      return true;
    });
  });

  test('secrets are redacted, configured headers too; other headers are kept', async () => {
    const { ip, listen_port } = endpoint('api.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    await httpRequest(ip, listen_port, {
      path: '/secret',
      headers: {
        Authorization: 'Bearer s3cr3t',
        Cookie: 'session=abc',
        'Proxy-Authorization': 'Basic Zm9v',
        'X-Api-Token': 'tok-123',
        'X-Trace': 'visible',
      },
    });
    const [record] = await records('api.inspect.test', start, 1);
    assert.ok(record !== undefined);
    const detail = await harness.engine.handlers.request({ id: record.id });
    const headers = Object.fromEntries(detail.request_headers.map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(headers.authorization, '[redacted]');
    assert.equal(headers.cookie, '[redacted]');
    assert.equal(headers['proxy-authorization'], '[redacted]');
    assert.equal(headers['x-api-token'], '[redacted]');
    assert.equal(headers['x-trace'], 'visible');
    const everything = JSON.stringify(await harness.engine.handlers.requests({})) + JSON.stringify(detail);
    for (const secret of ['s3cr3t', 'session=abc', 'Zm9v', 'tok-123'])
      assert.ok(!everything.includes(secret));
  });

  test('an upgraded connection is one record with its 101', async () => {
    const { ip, listen_port } = endpoint('ws.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    const socket = net.connect({ host: ip, port: listen_port });
    await once(socket, 'connect');
    socket.write(
      'GET /chat HTTP/1.1\r\nHost: ws.inspect.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    while (!text.includes('\r\n\r\n')) await once(socket, 'data');
    // After the switch, bytes that look like HTTP are not requests any more.
    socket.write('GET /not-a-request HTTP/1.1\r\n\r\n');
    while (!text.includes('/not-a-request')) await once(socket, 'data');
    socket.end();
    await once(socket, 'close');
    const got = await records('ws.inspect.test', start, 1);
    assert.deepEqual(
      got.map((r) => [r.path, r.status, r.kind]),
      [['/chat', 101, 'upgrade']],
    );
  });

  test('HTTP/2 with prior knowledge is one record marked h2c', async () => {
    const { ip, listen_port } = endpoint('api.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    await rawExchange(ip, listen_port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const got = await records('api.inspect.test', start, 1);
    assert.deepEqual(
      got.map((r) => [r.method, r.kind, r.status]),
      [['PRI', 'h2c', null]],
    );
  });

  test('a refused upgrade is recorded as the 502 the client got, with the ngrok code', async () => {
    harness.sim.ingress.failHost('down.inspect.test', { errorCode: 'ERR_NGROK_3200' });
    const { ip, listen_port } = endpoint('down.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    const reply = await httpRequest(ip, listen_port, { path: '/health' });
    assert.equal(reply.status, 502);
    const got = await records('down.inspect.test', start, 1);
    assert.deepEqual(
      got.map((r) => [r.method, r.path, r.status, r.error]),
      [['GET', '/health', 502, 'ERR_NGROK_3200']],
    );
  });

  test('a request without an answer is recorded as such when the connection ends', async () => {
    const { ip, listen_port } = endpoint('ws.inspect.test');
    const start = harness.engine.inspector?.lastId ?? 0;
    const socket = net.connect({ host: ip, port: listen_port });
    await once(socket, 'connect');
    socket.write('GET /hang HTTP/1.1\r\nHost: ws.inspect.test\r\n\r\n');
    // The request reached the backend (which never answers) before the client gives up.
    for (let i = 0; i < 100; i++) {
      const pending = await new Promise<number>((r) => upgrade.server.getConnections((_e, n) => r(n)));
      if (pending > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    socket.destroy();
    const got = await records('ws.inspect.test', start, 1);
    assert.deepEqual(
      got.map((r) => [r.path, r.status, r.error]),
      [['/hang', null, 'NO_RESPONSE']],
    );
  });

  test('filters: by endpoint, after an id, a limit of the newest', async () => {
    const all = await harness.engine.handlers.requests({});
    assert.ok(all.length >= 5);
    const ids = all.map((r) => r.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'oldest first',
    );
    const ws = await harness.engine.handlers.requests({ endpoint: 'ws.inspect.test' });
    assert.ok(ws.length > 0 && ws.every((r) => r.endpoint === 'ws.inspect.test'));
    const byUrl = await harness.engine.handlers.requests({ endpoint: 'http://ws.inspect.test:80' });
    assert.deepEqual(byUrl, ws);
    const last2 = await harness.engine.handlers.requests({ limit: 2 });
    assert.deepEqual(last2, all.slice(-2));
    const middle = all[Math.floor(all.length / 2)] as RequestRecord;
    assert.deepEqual(
      await harness.engine.handlers.requests({ after: middle.id }),
      all.filter((r) => r.id > middle.id),
    );
    await assert.rejects(
      Promise.resolve().then(() => harness.engine.handlers.request({ id: 999_999 })),
      /no request 999999/,
    );
  });
});

test('with inspect.enabled false nothing is recorded and the commands say so', () => {
  const config = resolveConfig(validateConfig({ inspect: { enabled: false } }));
  const engine = userModeEngine(config, '/nonexistent/hosts');
  assert.equal(engine.inspector, null);
  assert.throws(
    () => engine.request(1),
    (err) =>
      err instanceof NgrokdError && err.code === 'INSPECTOR_OFF' && /inspect\.enabled/.test(err.message),
  );
});
