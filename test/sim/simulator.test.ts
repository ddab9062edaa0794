/**
 * The simulator itself, over real sockets: it must be faithful to shared/ngrok-protocol.md, since
 * every other integration test trusts it.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import tls from 'node:tls';
import {
  decodeConnResponseMessage,
  encodeConnRequest,
  FrameAccumulator,
} from '../../main/engine/binding/frames.ts';
import type { ConnResponse } from '../../main/engine/binding/frames.ts';
import { NgrokdError } from '../../main/common/errors.ts';
import { createCa, createClientCsr, signCsr } from './ca.ts';
import { startSimulator } from './simulator.ts';
import type { Simulator } from './simulator.ts';

let sim: Simulator;
/** An operator registered once; its client cert opens ingress connections. */
let client: Registered;

before(async () => {
  sim = await startSimulator({ apiKey: 'test-key' });
  client = await register();
});
after(() => sim.close());
beforeEach(() => {
  sim.api.setEndpoints([]);
  sim.api.clearFailures();
  sim.api.endpointUrlFields = 'both';
  sim.ingress.behaviour = 'normal';
  sim.ingress.clearHostFailures();
  sim.ingress.useUntrustedCert(false);
});

interface ApiReply {
  status: number;
  headers: Headers;
  body: Record<string, unknown> | null;
}

async function call(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiReply> {
  const url = path.startsWith('http') ? path : `${sim.apiUrl}${path}`;
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${sim.apiKey}`,
      'ngrok-version': '2',
      'content-type': 'application/json',
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? null : (JSON.parse(text) as Record<string, unknown>),
  };
}

interface Registered {
  id: string;
  keyPem: string;
  csrPem: string;
  cert: { cert: string; not_before: string; not_after: string };
  body: Record<string, unknown>;
}

function bindingOf(body: Record<string, unknown> | null): {
  cert: { cert: string; not_before: string; not_after: string };
  ingress_endpoint: string;
  endpoint_selectors: string[];
} {
  return (body as { binding: ReturnType<typeof bindingOf> }).binding;
}

async function register(): Promise<Registered> {
  const { csrPem, keyPem } = await createClientCsr();
  const reply = await call('/kubernetes_operators', {
    method: 'POST',
    body: {
      description: 'ngrokd desktop test',
      metadata: '{"owned-by":"ngrokd"}',
      enabled_features: ['bindings'],
      region: 'global',
      binding: { endpoint_selectors: ['true'], csr: csrPem },
    },
  });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  const body = reply.body as Record<string, unknown>;
  return { id: body.id as string, keyPem, csrPem, cert: bindingOf(body).cert, body };
}

/** TLS 1.3 tickets can arrive before `secureConnect` resolves, so capture them from the start. */
const sessions = new WeakMap<tls.TLSSocket, Promise<Buffer>>();

function dial(options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: sim.ingress.port,
      servername: sim.ingressServerName,
      ca: sim.ingressCaPem,
      allowPartialTrustChain: true,
      ...options,
    });
    sessions.set(socket, new Promise((resolve) => socket.once('session', resolve)));
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Read one ConnResponse frame; rejects if the connection errors or ends first. */
function readResponse(socket: tls.TLSSocket): Promise<{ response: ConnResponse; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const frames = new FrameAccumulator();
    const onData = (chunk: Buffer): void => {
      const got = frames.push(chunk);
      if (got === null) return;
      socket.off('data', onData);
      socket.pause();
      try {
        resolve({ response: decodeConnResponseMessage(got.message), rest: got.rest });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('end', () => reject(new Error('connection ended before a ConnResponse')));
  });
}

async function readToEnd(socket: tls.TLSSocket, first: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  const chunks = [first];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  await once(socket, 'end');
  return Buffer.concat(chunks);
}

const withClientCert = (): tls.ConnectionOptions => ({ cert: client.cert.cert, key: client.keyPem });

describe('REST API', { timeout: 20_000 }, () => {
  it('rejects a missing or wrong API key with 401 and ngrok error body', async () => {
    const missing = await call('/endpoints', { headers: { authorization: '' } });
    assert.equal(missing.status, 401);
    assert.equal(missing.body?.error_code, 'ERR_NGROK_200');
    assert.equal(missing.body?.status_code, 401);
    assert.equal(typeof missing.body?.msg, 'string');
    assert.match((missing.body?.details as { operation_id: string }).operation_id, /^op_/);
    const wrong = await call('/endpoints', { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body?.error_code, 'ERR_NGROK_201');
  });

  it('requires Ngrok-Version: 2', async () => {
    const reply = await call('/endpoints', { headers: { 'ngrok-version': '' } });
    assert.equal(reply.status, 400);
    assert.equal(reply.body?.error_code, 'ERR_NGROK_218');
  });

  it('signs the CSR on operator creation with the client CA', async () => {
    const binding = bindingOf(client.body);
    assert.equal(binding.ingress_endpoint, sim.ingressEndpoint);
    assert.deepEqual(binding.endpoint_selectors, ['true']);
    assert.match(client.id, /^k8sop_/);
    assert.equal(client.body.uri, `${sim.apiUrl}/kubernetes_operators/${client.id}`);
    const cert = new X509Certificate(client.cert.cert);
    assert.ok(cert.verify(new X509Certificate(sim.clientCaPem).publicKey));
    const certKey = cert.publicKey.export({ type: 'spki', format: 'der' });
    assert.deepEqual(certKey, createPublicKey(client.keyPem).export({ type: 'spki', format: 'der' }));
    assert.match(client.cert.not_after, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(new Date(client.cert.not_after).getTime(), new Date(cert.validTo).getTime());
    const fetched = await call(`/kubernetes_operators/${client.id}`);
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.body, client.body);
  });

  it('validates operator bodies', async () => {
    const { csrPem } = await createClientCsr();
    const base = { enabled_features: ['bindings'], binding: { endpoint_selectors: ['true'], csr: csrPem } };
    const cases: unknown[] = [
      { ...base, description: 'x'.repeat(256) },
      { ...base, metadata: 'x'.repeat(4097) },
      { ...base, enabled_features: ['teleport'] },
      { ...base, binding: { endpoint_selectors: 'true', csr: csrPem } },
      { ...base, binding: { endpoint_selectors: ['true'], csr: 'not a csr' } },
      { ...base, binding: { endpoint_selectors: ['true'] } },
    ];
    for (const body of cases) {
      const reply = await call('/kubernetes_operators', { method: 'POST', body });
      assert.equal(reply.status, 400, JSON.stringify(body).slice(0, 120));
      assert.match(String(reply.body?.error_code), /^ERR_NGROK_\d+$/);
    }
    const ok = await call('/kubernetes_operators', {
      method: 'POST',
      body: { ...base, description: 'é'.repeat(127) },
    });
    assert.equal(ok.status, 201);
  });

  it('renews on PATCH with a new CSR and keeps the cert for the same CSR', async () => {
    const op = await register();
    const same = await call(`/kubernetes_operators/${op.id}`, {
      method: 'PATCH',
      body: { binding: { csr: op.csrPem } },
    });
    assert.equal(same.status, 200);
    assert.deepEqual(bindingOf(same.body).cert, op.cert);

    sim.api.certLifetimeDays = 10;
    const next = await createClientCsr();
    const renewed = await call(`/kubernetes_operators/${op.id}`, {
      method: 'PATCH',
      body: { binding: { endpoint_selectors: ['true'], csr: next.csrPem } },
    });
    sim.api.certLifetimeDays = 365;
    const cert = bindingOf(renewed.body).cert;
    assert.notEqual(cert.cert, op.cert.cert);
    const newKey = new X509Certificate(cert.cert).publicKey.export({ type: 'spki', format: 'der' });
    assert.deepEqual(newKey, createPublicKey(next.keyPem).export({ type: 'spki', format: 'der' }));
    const daysLeft = (new Date(cert.not_after).getTime() - Date.now()) / 86_400_000;
    assert.ok(daysLeft > 9 && daysLeft <= 10, `cert has ${daysLeft} days left`);
    assert.equal(sim.api.operators.get(op.id)?.certsIssued, 2);

    assert.equal((await call(`/kubernetes_operators/${op.id}`, { method: 'DELETE' })).status, 204);
    const gone = await call(`/kubernetes_operators/${op.id}`);
    assert.equal(gone.status, 404);
    assert.equal((await call(`/kubernetes_operators/${op.id}`, { method: 'PATCH', body: {} })).status, 404);
    assert.equal((await call(`/kubernetes_operators/${op.id}/bound_endpoints`)).status, 404);
  });

  async function walk(
    path: string,
    key: string,
  ): Promise<{ pages: number; ids: string[]; uris: (string | null)[] }> {
    const ids: string[] = [];
    const uris: (string | null)[] = [];
    let next: string | null = path;
    let pages = 0;
    while (next !== null) {
      const reply = await call(next);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      pages++;
      ids.push(...(reply.body?.[key] as { id: string }[]).map((e) => e.id));
      next = reply.body?.next_page_uri as string | null;
      uris.push(next);
    }
    return { pages, ids, uris };
  }

  it('paginates every list newest first with full next_page_uri', async () => {
    const added = sim.api.setEndpoints(
      Array.from({ length: 250 }, (_, i) => ({
        url: `http://svc${i}.prod`,
        id: `ep_${String(i).padStart(4, '0')}`,
      })),
    );
    const newestFirst = added.map((e) => e.id).reverse();
    for (const path of [
      '/endpoints?limit=100',
      `/kubernetes_operators/${client.id}/bound_endpoints?limit=100`,
    ]) {
      const { pages, ids, uris } = await walk(path, 'endpoints');
      assert.equal(pages, 3);
      assert.deepEqual(ids, newestFirst);
      assert.ok(uris[0]?.startsWith(`${sim.apiUrl}/`), String(uris[0]));
      assert.equal(uris[2], null);
    }
    const defaultLimit = await call('/endpoints');
    assert.equal((defaultLimit.body?.endpoints as unknown[]).length, 100);
    const { ids } = await walk('/kubernetes_operators?limit=1', 'operators');
    assert.ok(ids.includes(client.id));
  });

  it('handles 10,000 endpoints', async () => {
    sim.api.setEndpoints(Array.from({ length: 10_000 }, (_, i) => ({ url: `tcp://db${i}.prod:5432` })));
    const { pages, ids } = await walk('/endpoints', 'endpoints');
    assert.equal(pages, 100);
    assert.equal(new Set(ids).size, 10_000);
  });

  it('serves the documented endpoint fields, with url or public_url toggled off', async () => {
    sim.api.addEndpoint({ url: 'tcp://db.prod:5432', id: 'ep_db' });
    sim.api.addEndpoint({ url: 'http://web.prod', id: 'ep_web', bindings: [] });
    const all = (await call('/endpoints')).body?.endpoints as Record<string, unknown>[];
    assert.equal(all.length, 2);
    const db = all.find((e) => e.id === 'ep_db') as Record<string, unknown>;
    for (const field of ['created_at', 'updated_at', 'metadata', 'description', 'name', 'type'])
      assert.ok(field in db, field);
    assert.equal(db.url, 'tcp://db.prod:5432');
    assert.equal(db.public_url, 'tcp://db.prod:5432');
    assert.equal(db.proto, 'tcp');
    assert.equal(db.hostport, 'db.prod:5432');
    assert.equal(db.host, 'db.prod');
    assert.equal(db.port, 5432);
    assert.deepEqual(db.bindings, ['kubernetes']);
    assert.equal(db.uri, `${sim.apiUrl}/endpoints/ep_db`);
    assert.equal(db.pooling_enabled, false);
    const bound = (await call(`/kubernetes_operators/${client.id}/bound_endpoints`)).body?.endpoints as {
      id: string;
    }[];
    assert.deepEqual(
      bound.map((e) => e.id),
      ['ep_db'],
    );

    sim.api.endpointUrlFields = 'public_url';
    const legacy = ((await call('/endpoints')).body?.endpoints as Record<string, unknown>[])[0] ?? {};
    assert.equal('url' in legacy, false);
    assert.equal(typeof legacy.public_url, 'string');
    sim.api.endpointUrlFields = 'url';
    const modern = ((await call('/endpoints')).body?.endpoints as Record<string, unknown>[])[0] ?? {};
    assert.equal('public_url' in modern, false);
  });

  it('injects failures into the next matching requests and counts requests per minute', async () => {
    const before = sim.api.requestsInLastMinute();
    sim.api.injectFailures(2, { status: 429, retryAfterSeconds: 3, paths: ['/endpoints'] });
    for (let i = 0; i < 2; i++) {
      const limited = await call('/endpoints');
      assert.equal(limited.status, 429);
      assert.equal(limited.body?.error_code, 'ERR_NGROK_226');
      assert.equal(limited.headers.get('retry-after'), '3');
    }
    assert.equal((await call(`/kubernetes_operators/${client.id}`)).status, 200);
    assert.equal((await call('/endpoints')).status, 200);

    sim.api.injectFailures(1, {
      status: 400,
      errorCode: 'ERR_NGROK_19002',
      paths: ['/kubernetes_operators'],
      methods: ['POST'],
    });
    const { csrPem } = await createClientCsr();
    const gated = await call('/kubernetes_operators', {
      method: 'POST',
      body: { enabled_features: ['bindings'], binding: { endpoint_selectors: ['true'], csr: csrPem } },
    });
    assert.equal(gated.status, 400);
    assert.equal(gated.body?.error_code, 'ERR_NGROK_19002');
    sim.api.injectFailures(1, { status: 503 });
    assert.equal((await call('/endpoints')).status, 503);

    assert.equal(sim.api.requestsInLastMinute() - before, 6);
    const last = sim.api.requestLog.at(-1);
    assert.deepEqual([last?.method, last?.path, last?.status], ['GET', '/endpoints', 503]);
  });

  it('enforces a per-minute rate limit when configured', async () => {
    sim.api.rateLimitPerMinute = sim.api.requestsInLastMinute() + 1;
    try {
      assert.equal((await call('/endpoints')).status, 200);
      const limited = await call('/endpoints');
      assert.equal(limited.status, 429);
      assert.equal(limited.body?.error_code, 'ERR_NGROK_226');
    } finally {
      sim.api.rateLimitPerMinute = undefined;
    }
  });
});

describe('binding ingress', { timeout: 20_000 }, () => {
  it('answers a ConnRequest and splices the stream to the HTTP backend', async () => {
    const [endpoint] = [sim.api.addEndpoint({ url: 'http://web.prod' })];
    const socket = await dial(withClientCert());
    // The HTTP request rides in the same write as the frame: the ingress must keep those bytes.
    const request = 'GET /hello?x=1 HTTP/1.1\r\nHost: web.prod\r\nConnection: close\r\n\r\n';
    socket.write(Buffer.concat([encodeConnRequest({ host: 'web.prod', port: 80 }), Buffer.from(request)]));
    const { response, rest } = await readResponse(socket);
    assert.deepEqual(response, {
      endpointId: endpoint?.id,
      proto: 'http',
      errorCode: '',
      errorMessage: '',
      notices: [],
    });
    const http = (await readToEnd(socket, rest)).toString();
    assert.match(http, /^HTTP\/1\.1 200 OK\r\n/);
    const body = JSON.parse(http.slice(http.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    assert.equal(body.host, 'web.prod');
    assert.equal(body.endpoint_host, 'web.prod');
    assert.equal(body.path, '/hello?x=1');
    assert.deepEqual(sim.ingress.requests.at(-1), {
      host: 'web.prod',
      port: 80,
      at: sim.ingress.requests.at(-1)?.at,
    });
  });

  it('decodes the worked example bytes from the protocol facts', async () => {
    sim.api.addEndpoint({ url: 'http://web.prod' });
    const socket = await dial(withClientCert());
    socket.write(Buffer.from('0c000a087765622e70726f641050', 'hex'));
    const { response } = await readResponse(socket);
    assert.equal(response.errorCode, '');
    const last = sim.ingress.requests.at(-1);
    assert.deepEqual([last?.host, last?.port], ['web.prod', 80]);
    socket.destroy();
  });

  it('streams /bytes/<n> from the HTTP backend', async () => {
    sim.api.addEndpoint({ url: 'http://big.prod:8080' });
    const socket = await dial(withClientCert());
    socket.write(encodeConnRequest({ host: 'big.prod', port: 8080 }));
    const { rest } = await readResponse(socket);
    socket.write('GET /bytes/3000000 HTTP/1.1\r\nHost: big.prod\r\nConnection: close\r\n\r\n');
    const raw = await readToEnd(socket, rest);
    const head = raw.indexOf('\r\n\r\n');
    assert.match(raw.subarray(0, head).toString(), /content-length: 3000000/i);
    assert.equal(raw.length - head - 4, 3_000_000);
  });

  it('round-robins pooled endpoints', async () => {
    sim.api.addEndpoint({ url: 'tls://pool.prod', id: 'ep_a' });
    sim.api.addEndpoint({ url: 'tls://pool.prod:443', id: 'ep_b' });
    const chosen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = await dial(withClientCert());
      socket.write(encodeConnRequest({ host: 'pool.prod', port: 443 }));
      chosen.push((await readResponse(socket)).response.endpointId);
      socket.destroy();
    }
    assert.deepEqual([...chosen].sort(), ['ep_a', 'ep_a', 'ep_b', 'ep_b']);
    assert.notEqual(chosen[0], chosen[1]);
  });

  it('echoes tcp endpoints and carries half-close both ways', async () => {
    sim.api.addEndpoint({ url: 'tcp://db.prod:5432' });
    const socket = await dial(withClientCert());
    socket.write(encodeConnRequest({ host: 'db.prod', port: 5432 }));
    const { response, rest } = await readResponse(socket);
    assert.equal(response.proto, 'tcp');
    const payload = Buffer.alloc(1 << 20, 7);
    socket.end(payload); // our FIN: the echo must still send everything back, then end
    const echoed = await readToEnd(socket, rest);
    assert.equal(echoed.length, payload.length);
    assert.ok(echoed.equals(payload));
  });

  it('refuses unknown hosts and hosts with injected errors', async () => {
    sim.api.addEndpoint({ url: 'http://web.prod' });
    const unknown = await dial(withClientCert());
    unknown.write(encodeConnRequest({ host: 'nope.prod', port: 80 }));
    const refused = (await readResponse(unknown)).response;
    assert.equal(refused.errorCode, 'ERR_NGROK_8012');
    assert.match(refused.errorMessage, /nope\.prod:80/);

    const wrongPort = await dial(withClientCert());
    wrongPort.write(encodeConnRequest({ host: 'web.prod', port: 81 }));
    assert.equal((await readResponse(wrongPort)).response.errorCode, 'ERR_NGROK_8012');

    sim.ingress.failHost('web.prod', { errorCode: 'ERR_NGROK_28001', errorMessage: 'pod identity required' });
    const policy = await dial(withClientCert());
    policy.write(encodeConnRequest({ host: 'web.prod', port: 80 }));
    const res = (await readResponse(policy)).response;
    assert.deepEqual(
      [res.errorCode, res.errorMessage, res.endpointId],
      ['ERR_NGROK_28001', 'pod identity required', ''],
    );
  });

  it('rejects a missing or foreign client cert after the TLS 1.3 handshake', async () => {
    const foreignCa = await createCa('Foreign Client CA');
    const { csrPem, keyPem } = await createClientCsr();
    const now = Date.now();
    const foreign = await signCsr(foreignCa, csrPem, {
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
    });
    for (const options of [{}, { cert: foreign.certPem, key: keyPem }]) {
      const errorsBefore = sim.ingress.tlsErrors.length;
      const socket = await dial(options); // TLS 1.3: the client's handshake completes
      assert.equal(socket.getProtocol(), 'TLSv1.3');
      socket.write(encodeConnRequest({ host: 'web.prod', port: 80 }));
      await assert.rejects(readResponse(socket));
      socket.destroy();
      assert.equal(sim.ingress.tlsErrors.length, errorsBefore + 1);
    }
    // TLS 1.2 has no post-handshake surprise: the handshake itself fails.
    await assert.rejects(dial({ maxVersion: 'TLSv1.2' }));
  });

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`resumes ${version} sessions`, async () => {
      sim.api.addEndpoint({ url: 'http://web.prod' });
      const first = await dial({ ...withClientCert(), maxVersion: version });
      assert.equal(first.getProtocol(), version);
      first.write(encodeConnRequest({ host: 'web.prod', port: 80 }));
      await readResponse(first);
      const ticket = await sessions.get(first);
      first.destroy();
      const { resumed, full } = sim.ingress.handshakes;
      const second = await dial({ ...withClientCert(), maxVersion: version, session: ticket });
      assert.equal(second.isSessionReused(), true);
      second.write(encodeConnRequest({ host: 'web.prod', port: 80 }));
      assert.equal((await readResponse(second)).response.errorCode, '');
      second.destroy();
      assert.deepEqual(sim.ingress.handshakes, { resumed: resumed + 1, full });
    });
  }

  it('can present an untrusted certificate and send a garbage frame', async () => {
    sim.ingress.useUntrustedCert(true);
    await assert.rejects(dial(withClientCert()), /certificate/i);
    const trustingForeign = await dial({ ...withClientCert(), ca: sim.untrustedCaPem });
    trustingForeign.destroy();
    sim.ingress.useUntrustedCert(false);

    sim.ingress.behaviour = 'garbage';
    const socket = await dial(withClientCert());
    socket.write(encodeConnRequest({ host: 'web.prod', port: 80 }));
    await assert.rejects(
      readResponse(socket),
      (err) => err instanceof NgrokdError && err.code === 'PROTOCOL_ERROR',
    );
    socket.destroy();

    const protocolErrors = sim.ingress.protocolErrors;
    sim.ingress.behaviour = 'normal';
    const bad = await dial(withClientCert());
    bad.write(Buffer.from([0x02, 0x00, 0x0f, 0xff]));
    await assert.rejects(readResponse(bad));
    assert.equal(sim.ingress.protocolErrors, protocolErrors + 1);
  });
});

describe('standalone', { timeout: 20_000 }, () => {
  it('prints its addresses as JSON and exits on SIGINT', async () => {
    const child = spawn(process.execPath, ['test/sim/simulator.ts'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    for await (const chunk of child.stdout as AsyncIterable<string>) {
      out += chunk;
      if (out.trimEnd().endsWith('}')) break;
    }
    const info = JSON.parse(out) as {
      apiUrl: string;
      apiKey: string;
      ingressEndpoint: string;
      ingressCaPem: string;
    };
    const res = await fetch(`${info.apiUrl}/endpoints`, {
      headers: { authorization: `Bearer ${info.apiKey}`, 'ngrok-version': '2' },
    });
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as { endpoints: unknown[] }).endpoints.length > 0);
    assert.match(info.ingressEndpoint, /^127\.0\.0\.1:\d+$/);
    assert.match(info.ingressCaPem, /BEGIN CERTIFICATE/);
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
