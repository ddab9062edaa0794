import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NgrokdError } from '../../../../main/common/errors.ts';
import { CredentialStore } from '../../../../main/engine/api/credential-store.ts';
import { certificateMatchesKey } from '../../../../main/engine/api/csr.ts';
import { NgrokApi } from '../../../../main/engine/api/ngrok-api.ts';
import { normalizeIngress, Registration } from '../../../../main/engine/api/registration.ts';
import {
  ngrokError,
  startApiStub,
  TestCa,
  type ApiStub,
  type RecordedRequest,
  type StubResponse,
} from './api-fixtures.ts';

const ZERO = '0001-01-01T00:00:00Z';

interface FakeOperator {
  id: string;
  description: string;
  metadata: string;
  selectors: string[];
  cert: { cert: string; not_before: string; not_after: string };
  lastCsr: string;
}

interface CreateBody {
  description: string;
  metadata: string;
  binding: { endpoint_selectors: string[]; csr: string };
}

/** Just enough of ngrok's operator API, signing CSRs with a test CA. */
class FakeOperatorApi {
  readonly operators = new Map<string, FakeOperator>();
  /** Validity of certificates issued from now on. */
  certDays = 365;
  /** How PATCH treats a CSR: issue a cert, answer with the current one, issue none, or fail. */
  patchMode: 'issue' | 'same' | 'none' | 'fail' = 'issue';
  /** POST answers without a certificate. */
  createWithoutCert = false;
  down = false;
  /** Runs while a PATCH with a CSR is being served (to look at the disk mid-renewal). */
  onRenewal: (() => void) | undefined;
  #next = 1;
  readonly #ca: TestCa;

  constructor(ca: TestCa) {
    this.#ca = ca;
  }

  async #sign(csr: string) {
    const issued = await this.#ca.issue(csr, this.certDays);
    return {
      cert: issued.certPem,
      not_before: issued.notBefore.toISOString(),
      not_after: issued.notAfter.toISOString(),
    };
  }

  #render(op: FakeOperator) {
    return {
      id: op.id,
      uri: `/kubernetes_operators/${op.id}`,
      created_at: '2025-01-01T00:00:00Z',
      description: op.description,
      metadata: op.metadata,
      enabled_features: ['bindings'],
      region: 'global',
      binding: { endpoint_selectors: op.selectors, cert: op.cert, ingress_endpoint: 'ingress.test' },
    };
  }

  readonly handle = async (req: RecordedRequest): Promise<StubResponse> => {
    if (this.down) return ngrokError(503, 500, 'down');
    const id = /^\/kubernetes_operators\/([^/?]+)$/.exec(req.url)?.[1];
    if (req.method === 'POST' && req.url === '/kubernetes_operators') {
      const body = JSON.parse(req.body) as CreateBody;
      const op: FakeOperator = {
        id: `k8sop_${this.#next++}`,
        description: body.description,
        metadata: body.metadata,
        selectors: body.binding.endpoint_selectors,
        cert: this.createWithoutCert
          ? { cert: '', not_before: ZERO, not_after: ZERO }
          : await this.#sign(body.binding.csr),
        lastCsr: body.binding.csr,
      };
      this.operators.set(op.id, op);
      return { status: 201, body: this.#render(op) };
    }
    const op = id === undefined ? undefined : this.operators.get(id);
    if (op === undefined) return ngrokError(404, 404, 'not found');
    if (req.method === 'GET') return { status: 200, body: this.#render(op) };
    if (req.method === 'DELETE') {
      this.operators.delete(op.id);
      return { status: 204 };
    }
    if (req.method === 'PATCH') {
      const body = JSON.parse(req.body) as { binding?: { endpoint_selectors?: string[]; csr?: string } };
      const csr = body.binding?.csr;
      if (csr !== undefined) {
        this.onRenewal?.();
        if (this.patchMode === 'fail') return ngrokError(500, 500, 'internal');
        if (this.patchMode === 'none') op.cert = { cert: '', not_before: ZERO, not_after: ZERO };
        if (this.patchMode === 'issue' && csr !== op.lastCsr) op.cert = await this.#sign(csr);
        op.lastCsr = csr;
      }
      if (body.binding?.endpoint_selectors !== undefined) op.selectors = body.binding.endpoint_selectors;
      return { status: 200, body: this.#render(op) };
    }
    return ngrokError(405, 0, 'method not allowed');
  };
}

let root: string;
let ca: TestCa;
const servers: ApiStub[] = [];
before(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'ngrokd-registration-'));
  ca = await TestCa.create();
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await fsp.rm(root, { recursive: true, force: true });
});

let dirs = 0;
async function setup() {
  const fake = new FakeOperatorApi(ca);
  const server = await startApiStub(fake.handle);
  servers.push(server);
  const dir = join(root, `state-${dirs++}`);
  const api = new NgrokApi({ apiKey: 'test-key', baseUrl: server.url, retry: { attempts: 1 } });
  /** A fresh Registration over the same state dir, like a daemon restart, optionally `days` later. */
  const start = (days = 0) =>
    new Registration({ api, store: new CredentialStore(dir), now: () => Date.now() + days * 86_400_000 });
  const calls = () => server.requests.map((r) => `${r.method} ${r.url}`);
  return { fake, server, dir, api, start, calls, store: new CredentialStore(dir) };
}

const params = { description: 'ngrokd Desktop on test', metadata: { app: 'ngrokd-desktop' } };

test('a fresh install registers with the documented body and stores the pair', async () => {
  const { server, start, store, calls } = await setup();
  const result = await start().ensureRegistered(params);
  assert.deepEqual(calls(), ['POST /kubernetes_operators']);
  const body = JSON.parse(server.requests[0]?.body ?? '') as CreateBody & Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), [
    'binding',
    'description',
    'enabled_features',
    'metadata',
    'region',
  ]);
  assert.equal(body.description, 'ngrokd Desktop on test');
  assert.equal(body.metadata, '{"app":"ngrokd-desktop"}');
  assert.deepEqual(body.enabled_features, ['bindings']);
  assert.equal(body.region, 'global');
  assert.deepEqual(body.binding.endpoint_selectors, ['true']);
  assert.match(body.binding.csr, /^-----BEGIN CERTIFICATE REQUEST-----/);

  assert.equal(result.operatorId, 'k8sop_1');
  assert.deepEqual(result.events, ['registered']);
  assert.equal(result.ingressEndpoint, 'ingress.test:443');
  assert.ok(certificateMatchesKey(result.certPem, result.keyPem));
  assert.ok(result.notAfter.getTime() > Date.now() + 300 * 86_400_000);
  const stored = await store.load();
  assert.equal(stored.operator?.id, 'k8sop_1');
  assert.equal(stored.certPem?.trim(), result.certPem.trim());
});

test('a restart reuses the registration without registering again', async () => {
  const { start, calls } = await setup();
  const first = await start().ensureRegistered(params);
  const second = await start().ensureRegistered(params);
  assert.deepEqual(calls(), ['POST /kubernetes_operators', 'GET /kubernetes_operators/k8sop_1']);
  assert.deepEqual(second.events, []);
  assert.equal(second.operatorId, first.operatorId);
  assert.equal(second.keyPem.trim(), first.keyPem.trim());
  assert.equal(second.certPem.trim(), first.certPem.trim());
});

test('a registration ngrok has forgotten (404) is made again with a new key', async () => {
  const { fake, start, calls } = await setup();
  const first = await start().ensureRegistered(params);
  fake.operators.clear();
  const second = await start().ensureRegistered(params);
  assert.deepEqual(calls().slice(1), ['GET /kubernetes_operators/k8sop_1', 'POST /kubernetes_operators']);
  assert.deepEqual(second.events, ['reregistered']);
  assert.equal(second.operatorId, 'k8sop_2');
  assert.notEqual(second.keyPem, first.keyPem);
});

test('an operator without a certificate (zero dates) gets one through a PATCH with a CSR', async () => {
  const { fake, server, start, calls } = await setup();
  fake.createWithoutCert = true;
  const result = await start().ensureRegistered(params);
  assert.deepEqual(calls(), ['POST /kubernetes_operators', 'PATCH /kubernetes_operators/k8sop_1']);
  const patch = JSON.parse(server.requests[1]?.body ?? '') as {
    binding: { csr: string; endpoint_selectors: string[] };
  };
  assert.match(patch.binding.csr, /CERTIFICATE REQUEST/);
  assert.deepEqual(result.events, ['registered', 'certificate-issued']);
  assert.ok(certificateMatchesKey(result.certPem, result.keyPem));
});

test('a certificate within 30 days of expiry is renewed with a new key; the old pair stays on disk until then', async () => {
  const { fake, server, start, store, calls } = await setup();
  const old = await start().ensureRegistered(params);
  let onDiskDuringRenewal = '';
  fake.onRenewal = () => {
    onDiskDuringRenewal = readFileSync(store.clientPemPath, 'utf8');
  };
  assert.deepEqual((await start(330).ensureRegistered(params)).events, [], 'not yet due 35 days before');
  const renewed = await start(340).ensureRegistered(params);
  assert.deepEqual(calls(), [
    'POST /kubernetes_operators',
    'GET /kubernetes_operators/k8sop_1',
    'GET /kubernetes_operators/k8sop_1',
    'PATCH /kubernetes_operators/k8sop_1',
  ]);
  const createCsr = (JSON.parse(server.requests[0]?.body ?? '') as CreateBody).binding.csr;
  const patchCsr = (JSON.parse(server.requests[3]?.body ?? '') as CreateBody).binding.csr;
  assert.notEqual(patchCsr, createCsr, 'the PATCH carries a new CSR');
  assert.ok(
    onDiskDuringRenewal.includes(old.keyPem.trim()) && onDiskDuringRenewal.includes(old.certPem.trim()),
  );

  assert.deepEqual(renewed.events, ['renewed']);
  assert.notEqual(renewed.keyPem, old.keyPem);
  assert.ok(certificateMatchesKey(renewed.certPem, renewed.keyPem));
  assert.notEqual(renewed.certPem, old.certPem);
  const stored = await store.load();
  assert.equal(stored.keyPem?.trim(), renewed.keyPem.trim());
  assert.equal(stored.certPem?.trim(), renewed.certPem.trim());
});

test('a renewal that fails or yields the same certificate keeps the old pair and reports it', async () => {
  const { fake, start, store, calls } = await setup();
  const old = await start().ensureRegistered(params);

  for (const mode of ['same', 'fail'] as const) {
    fake.patchMode = mode;
    const registration = start(340);
    const result = await registration.ensureRegistered(params);
    assert.equal(result.keyPem.trim(), old.keyPem.trim(), mode);
    assert.equal(result.certPem.trim(), old.certPem.trim(), mode);
    assert.deepEqual(result.events, []);
    assert.equal(result.problems.length, 1);
    assert.match(
      result.problems[0]?.message ?? '',
      mode === 'same' ? /returned the current one again/ : /HTTP 500/,
    );
    const stored = await store.load();
    assert.equal(stored.certPem?.trim(), old.certPem.trim(), 'old pair still stored');

    // The same Registration waits before trying again instead of PATCHing on every call.
    const before = calls().length;
    await registration.ensureRegistered(params);
    assert.deepEqual(calls().slice(before), ['GET /kubernetes_operators/k8sop_1']);
  }
});

test('certificates shorter than 30 days are not renewed on every call: the lifetime/3 rule', async () => {
  const { fake, start, calls } = await setup();
  fake.certDays = 10; // valid from yesterday: 11 days, renewed with 3⅔ days left
  const registration = start();
  await registration.ensureRegistered(params);
  for (let i = 0; i < 5; i++) assert.deepEqual((await registration.ensureRegistered(params)).events, []);
  assert.equal(calls().filter((c) => c.startsWith('PATCH')).length, 0);
});

test('a server that issues certificates already due gets at most one renewal an hour', async () => {
  const { fake, api, dir, calls } = await setup();
  // 15 minutes left of a day-long certificate: inside the window (a third) from the start.
  fake.certDays = 15 / 1440;
  let now = Date.now();
  const registration = new Registration({ api, store: new CredentialStore(dir), now: () => now });
  await registration.ensureRegistered(params);
  const patches = () => calls().filter((c) => c.startsWith('PATCH')).length;
  for (let i = 0; i < 5; i++) await registration.ensureRegistered(params);
  assert.equal(patches(), 0, 'not within the hour after the certificate was issued');
  now += 61 * 60_000;
  const renewed = await registration.ensureRegistered(params);
  assert.deepEqual(renewed.events, ['renewed']);
  for (let i = 0; i < 5; i++) await registration.ensureRegistered(params);
  assert.equal(patches(), 1);
});

test('without a usable certificate, a failed PATCH is an error', async () => {
  const { fake, start } = await setup();
  fake.createWithoutCert = true;
  fake.patchMode = 'none';
  await assert.rejects(
    start().ensureRegistered(params),
    (err: unknown) =>
      err instanceof NgrokdError &&
      err.code === 'API_ERROR' &&
      /k8sop_1.*the response has none/.test(err.message),
  );
});

test('changed selectors are PATCHed without a new CSR', async () => {
  const { server, start, calls } = await setup();
  const first = await start().ensureRegistered(params);
  const second = await start().ensureRegistered({ ...params, selectors: ["endpoint.metadata.team == 'a'"] });
  assert.deepEqual(calls().slice(1), [
    'GET /kubernetes_operators/k8sop_1',
    'PATCH /kubernetes_operators/k8sop_1',
  ]);
  assert.deepEqual(JSON.parse(server.requests[2]?.body ?? ''), {
    binding: { endpoint_selectors: ["endpoint.metadata.team == 'a'"] },
  });
  assert.deepEqual(second.events, ['selectors-updated']);
  assert.equal(second.certPem, first.certPem);
  assert.equal(second.keyPem, first.keyPem);
});

test('logout deletes the operator, then the local state', async () => {
  const { fake, start, store, calls } = await setup();
  await start().ensureRegistered(params);
  assert.equal(await start().logout(), true);
  assert.deepEqual(calls().slice(1), ['DELETE /kubernetes_operators/k8sop_1']);
  assert.equal(fake.operators.size, 0);
  assert.deepEqual(await store.load(), { operator: undefined, keyPem: undefined, certPem: undefined });
});

test('logout keeps local state when the API is down, unless forced; a gone operator is fine', async () => {
  const { fake, start, store } = await setup();
  await start().ensureRegistered(params);
  fake.down = true;
  await assert.rejects(
    start().logout(),
    (err: unknown) => err instanceof NgrokdError && err.code === 'API_UNAVAILABLE',
  );
  assert.equal((await store.load()).operator?.id, 'k8sop_1');
  assert.equal(await start().logout({ force: true }), false);
  assert.equal((await store.load()).operator, undefined);

  fake.down = false;
  await start().ensureRegistered(params);
  fake.operators.clear();
  assert.equal(await start().logout(), true, '404 counts as deleted');
  assert.equal((await store.load()).operator, undefined);
});

test('ingress endpoints get :443 when they have no port', () => {
  assert.equal(normalizeIngress('ingress.test'), 'ingress.test:443');
  assert.equal(normalizeIngress('ingress.test:8443'), 'ingress.test:8443');
  assert.equal(normalizeIngress(''), 'kubernetes-binding-ingress.ngrok.io:443');
  assert.equal(normalizeIngress('[::1]'), '[::1]:443');
});
