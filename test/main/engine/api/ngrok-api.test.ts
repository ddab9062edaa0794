import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { NgrokdError, type ErrorCode } from '../../../../main/common/errors.ts';
import type { NgrokApiError } from '../../../../main/engine/api/api-errors.ts';
import { NgrokApi, type NgrokApiOptions } from '../../../../main/engine/api/ngrok-api.ts';
import { VirtualClock } from '../../../support/virtual-clock.ts';
import { ngrokError, startApiStub, type ApiStub, type StubHandler } from './api-fixtures.ts';

const API_KEY = '2abcDEFsecretKEYvalue_0123456789';
const stubs: ApiStub[] = [];
after(() => Promise.all(stubs.map((stub) => stub.close())));

async function stub(handler: StubHandler): Promise<ApiStub> {
  const started = await startApiStub(handler);
  stubs.push(started);
  return started;
}

/** A client against `server` whose retry waits are recorded instead of slept. */
function client(server: ApiStub, options: Partial<NgrokApiOptions> = {}) {
  const sleeps: number[] = [];
  const api = new NgrokApi({
    apiKey: API_KEY,
    baseUrl: server.url,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...options,
  });
  return { api, sleeps };
}

async function expectError(
  promise: Promise<unknown>,
  code: ErrorCode,
  ...fragments: string[]
): Promise<NgrokdError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof NgrokdError, `expected NgrokdError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const fragment of fragments)
    assert.ok(caught.message.includes(fragment), `${caught.message} ∌ ${fragment}`);
  assert.ok(!caught.message.includes(API_KEY) && !caught.fix.includes(API_KEY), 'the API key never appears');
  assert.ok(caught.fix.length > 0);
  return caught;
}

const operator = {
  id: 'k8sop_1',
  binding: { endpoint_selectors: ['true'], ingress_endpoint: 'ingress.test' },
};

test('every request carries the bearer key and Ngrok-Version; bodies are JSON', async () => {
  const server = await stub((req) =>
    req.method === 'GET' ? { status: 200, body: operator } : { status: 201, body: operator },
  );
  const { api } = client(server);
  assert.equal((await api.getOperator('k8sop_1'))?.id, 'k8sop_1');
  await api.createOperator({
    description: 'd',
    metadata: '{}',
    enabled_features: ['bindings'],
    region: 'global',
    binding: { endpoint_selectors: ['true'], csr: 'CSR' },
  });
  const [get, post] = server.requests;
  assert.ok(get && post);
  assert.equal(get.url, '/kubernetes_operators/k8sop_1');
  for (const req of [get, post]) {
    assert.equal(req.headers.authorization, `Bearer ${API_KEY}`);
    assert.equal(req.headers['ngrok-version'], '2');
  }
  assert.equal(get.headers['content-type'], undefined);
  assert.equal(post.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(post.body), {
    description: 'd',
    metadata: '{}',
    enabled_features: ['bindings'],
    region: 'global',
    binding: { endpoint_selectors: ['true'], csr: 'CSR' },
  });
});

test('errors map to user-facing codes naming status, ngrok code and message', async () => {
  const cases: { answer: ReturnType<typeof ngrokError>; code: ErrorCode; fragments: string[] }[] = [
    {
      answer: ngrokError(401, 201, 'bad key'),
      code: 'API_AUTH',
      fragments: ['API key rejected (HTTP 401 ERR_NGROK_201: bad key'],
    },
    {
      answer: ngrokError(403, 200, 'forbidden'),
      code: 'API_AUTH',
      fragments: ['HTTP 403 ERR_NGROK_200: forbidden'],
    },
    {
      answer: ngrokError(400, 218, 'missing version'),
      code: 'API_ERROR',
      fragments: ['Ngrok-Version', 'ERR_NGROK_218'],
    },
    {
      answer: ngrokError(400, 19002, 'Kubernetes Operators and Bindings not enabled'),
      code: 'PLAN_GATE',
      fragments: ['not enabled on this ngrok account', 'HTTP 400 ERR_NGROK_19002'],
    },
    {
      answer: ngrokError(400, 19999, 'something odd'),
      code: 'API_ERROR',
      fragments: ['HTTP 400 ERR_NGROK_19999: something odd', 'op_test'],
    },
    {
      answer: { status: 418, body: 'not json at all' },
      code: 'API_ERROR',
      fragments: ['HTTP 418', 'not json at all'],
    },
  ];
  for (const { answer, code, fragments } of cases) {
    const server = await stub(() => answer);
    const { api } = client(server);
    const err = await expectError(api.listOperators(), code, ...fragments);
    assert.equal(server.requests.length, 1, `${code} is not retried`);
    if (typeof answer.body === 'object') assert.match(err.ngrokCode ?? '', /^ERR_NGROK_\d+$/);
  }
  // The plan gate reads plainly in its fix too.
  const server = await stub(() => ngrokError(400, 19002, 'nope'));
  const gate = await expectError(client(server).api.listOperators(), 'PLAN_GATE');
  assert.match(gate.fix, /plan/);
});

test('rate limits and outages are retried for GET, then reported', async () => {
  const limited = await stub(() => ngrokError(429, 226, 'slow down'));
  const one = client(limited);
  const err = await expectError(one.api.listEndpoints(), 'RATE_LIMITED', 'HTTP 429 ERR_NGROK_226: slow down');
  assert.match(err.fix, /120 requests per minute/);
  assert.equal(limited.requests.length, 4);
  assert.deepEqual(one.sleeps, [250, 500, 1000], 'full jitter with random 0.5 over 500·2^n');

  const busy = await stub(() => ngrokError(429, 225, 'too many'));
  await expectError(
    client(busy, { retry: { attempts: 1 } }).api.listEndpoints(),
    'RATE_LIMITED',
    'simultaneous',
  );

  const down = await stub((_req, i) =>
    i < 2 ? ngrokError(503, 500, 'maintenance') : { status: 200, body: operator },
  );
  const two = client(down);
  assert.equal((await two.api.getOperator('k8sop_1'))?.id, 'k8sop_1');
  assert.equal(down.requests.length, 3);

  const broken = await stub(() => ngrokError(500, 500, 'boom'));
  await expectError(client(broken).api.getOperator('x'), 'API_UNAVAILABLE', broken.url, 'HTTP 500');
});

test('Retry-After is honoured in seconds and as a date; a longer wait than a request may take ends it', async () => {
  const now = Date.parse('2025-03-01T12:00:00Z');
  const answers = [
    { ...ngrokError(429, 226, 'wait'), headers: { 'Retry-After': '3' } },
    { ...ngrokError(503, 500, 'wait'), headers: { 'Retry-After': new Date(now + 10_000).toUTCString() } },
    { status: 200, body: operator },
  ];
  const server = await stub((_req, i) => answers[i] ?? { status: 500 });
  const { api, sleeps } = client(server, { now: () => now });
  await api.updateOperator('k8sop_1', { description: 'x' });
  assert.deepEqual(sleeps, [3000, 10_000]);

  // An hour is more than a request waits (retry.retryAfterCapMs, 60 s): the request ends with
  // ngrok's wish on the error, for the caller's next try, and this client sends nothing before.
  const long = await stub(() => ({ ...ngrokError(429, 226, 'wait'), headers: { 'Retry-After': '3600' } }));
  const held = client(long, { now: () => now });
  const err = await expectError(held.api.listEndpoints(), 'RATE_LIMITED', 'ngrok asked to wait 60 min');
  assert.equal((err as NgrokApiError).retryAfterMs, 3_600_000);
  assert.equal(long.requests.length, 1, 'not retried within the request');
  const next = await expectError(held.api.listOperators(), 'RATE_LIMITED', 'not sent', 'wait 60 min more');
  assert.equal((next as NgrokApiError).retryAfterMs, 3_600_000);
  assert.equal(long.requests.length, 1, 'nothing is sent while ngrok asked to wait');
});

test('a Retry-After holds every request of the client, not only the one that got it', async () => {
  const clock = new VirtualClock();
  const start = clock.now();
  const seen: number[] = [];
  const server = await stub((_req, i) => {
    seen.push(clock.now() - start);
    return i === 0
      ? { ...ngrokError(429, 225, 'too many at once'), headers: { 'Retry-After': '5' } }
      : { status: 200, body: { operators: [], next_page_uri: null } };
  });
  const api = new NgrokApi({
    apiKey: API_KEY,
    baseUrl: server.url,
    now: clock.now,
    sleep: clock.sleep,
    retry: { attempts: 1 },
  });
  const err = await expectError(
    api.listOperators(),
    'RATE_LIMITED',
    'simultaneous',
    'ngrok asked to wait 5 s',
  );
  assert.equal((err as NgrokApiError).retryAfterMs, 5000);
  await api.listOperators();
  assert.deepEqual(seen, [0, 5000], 'the next request went only once the 5 s had passed');
});

test('429 and 225 without Retry-After back off exponentially with jitter', async () => {
  for (const code of [226, 225]) {
    const server = await stub(() => ngrokError(429, code, 'slow down'));
    const { api, sleeps } = client(server, { random: () => 1 - Number.EPSILON });
    await expectError(api.listEndpoints(), 'RATE_LIMITED');
    assert.deepEqual(sleeps, [499, 999, 1999], `ERR_NGROK_${code}: up to 500·2^n`);
  }
});

test('every failed attempt is reported as it happens, before the retry; an answer is reported too', async () => {
  const silent = await stub((_req, i) => (i < 2 ? 'hang' : { status: 200, body: operator }));
  const heard: string[] = [];
  const reported: { code: string; message: string; fix: string; retryInMs: number | undefined }[] = [];
  const { api } = client(silent, {
    timeoutMs: 50,
    sleep: async () => {
      heard.push(`sleep after ${reported.length} reported`);
    },
    observer: {
      attemptFailed: (failure, attempt) => {
        heard.push(`failed attempt ${attempt.attempt}`);
        reported.push({ ...failure.toJSON(), retryInMs: attempt.retryInMs });
      },
      succeeded: (request) => heard.push(`succeeded ${request.method} ${request.path}`),
    },
  });
  assert.equal((await api.getOperator('k8sop_1'))?.id, 'k8sop_1');
  assert.deepEqual(heard, [
    'failed attempt 1',
    'sleep after 1 reported',
    'failed attempt 2',
    'sleep after 2 reported',
    'succeeded GET /kubernetes_operators/k8sop_1',
  ]);
  const first = reported[0];
  assert.equal(first?.code, 'API_UNAVAILABLE');
  assert.ok(first.message.includes(`${silent.url}/kubernetes_operators/k8sop_1 did not answer within 50 ms`));
  assert.match(first.fix, /network connection.*api\.url.*status\.ngrok\.com.*keeps retrying/);
  assert.equal(first.retryInMs, 250);

  // The last attempt is reported too, with no retry to come.
  const down = await stub(() => ngrokError(503, 500, 'down'));
  const last: (number | undefined)[] = [];
  const once = client(down, {
    retry: { attempts: 2 },
    observer: { attemptFailed: (_f, attempt) => last.push(attempt.retryInMs) },
  });
  await expectError(once.api.listOperators(), 'API_UNAVAILABLE');
  assert.deepEqual(last, [250, undefined]);
});

test('requests wait for the budget rather than fail, and a wait ends with the signal', async () => {
  const clock = new VirtualClock();
  const start = clock.now();
  const seen: number[] = [];
  const server = await stub(() => {
    seen.push(clock.now() - start);
    return { status: 200, body: { operators: [], next_page_uri: null } };
  });
  const controller = new AbortController();
  const api = new NgrokApi({
    apiKey: API_KEY,
    baseUrl: server.url,
    now: clock.now,
    sleep: clock.sleep,
    budget: { perMinute: 60, burst: 3 },
    signal: controller.signal,
  });
  for (let i = 0; i < 5; i++) await api.listOperators();
  assert.deepEqual(seen, [0, 0, 0, 1000, 2000]);
  assert.deepEqual(api.budget.stats(), { taken: 5, heldBack: 2, waitedMs: 2000 });

  const blocked = new NgrokApi({
    apiKey: API_KEY,
    baseUrl: server.url,
    budget: { perMinute: 1, burst: 1 },
    signal: controller.signal,
  });
  await blocked.listOperators();
  const waiting = blocked.listOperators();
  controller.abort(new Error('daemon stopping'));
  await assert.rejects(waiting, /daemon stopping/);
  assert.equal(seen.length, 6, 'the request that waited was never sent');
});

test('ERR_NGROK_20006 says the certificate request could not be signed', async () => {
  const server = await stub(() => ngrokError(400, 20006, 'csr could not be signed'));
  const err = await expectError(
    client(server).api.updateOperator('k8sop_1', { binding: { csr: 'CSR' } }),
    'API_ERROR',
    'could not sign the client certificate request',
    'ERR_NGROK_20006',
  );
  assert.match(err.fix, /new key/);
});

test('POST is retried only when the server did not act (429), never on 5xx', async () => {
  const body = {
    description: 'd',
    metadata: '{}',
    enabled_features: ['bindings'],
    region: 'global',
    binding: { endpoint_selectors: ['true'], csr: 'CSR' },
  };
  const failing = await stub(() => ngrokError(500, 500, 'boom'));
  await expectError(client(failing).api.createOperator(body), 'API_UNAVAILABLE');
  assert.equal(failing.requests.length, 1);

  const limited = await stub((_req, i) =>
    i === 0 ? ngrokError(429, 226, 'wait') : { status: 201, body: operator },
  );
  assert.equal((await client(limited).api.createOperator(body)).id, 'k8sop_1');
  assert.equal(limited.requests.length, 2);
});

test('a timeout or refused connection is API_UNAVAILABLE naming the URL', async () => {
  const silent = await stub(() => 'hang');
  await expectError(
    client(silent, { timeoutMs: 100, retry: { attempts: 2 } }).api.getOperator('k8sop_1'),
    'API_UNAVAILABLE',
    `${silent.url}/kubernetes_operators/k8sop_1`,
    'did not answer within 100 ms',
  );
  assert.equal(silent.requests.length, 2, 'a timed-out GET is retried');

  const gone = await startApiStub(() => ({ status: 200 }));
  await gone.close();
  await expectError(
    client(gone, { retry: { attempts: 1 } }).api.listOperators(),
    'API_UNAVAILABLE',
    gone.url,
    'ECONNREFUSED',
  );
});

test('the API key is redacted from server messages', async () => {
  const server = await stub(() => ngrokError(401, 201, `key ${API_KEY} is invalid`));
  const err = await expectError(client(server).api.listOperators(), 'API_AUTH', 'key [redacted] is invalid');
  assert.ok(!JSON.stringify(err.toJSON()).includes(API_KEY));
});

test('lists follow every page on the same origin', async () => {
  const server: ApiStub = await stub((req) => {
    const url = new URL(req.url, 'http://x');
    const page = Number(url.searchParams.get('before_id') ?? '0');
    const endpoints = [0, 1].map((i) => ({
      id: `ep_${page * 2 + i}`,
      url: `http://web${page * 2 + i}.prod`,
    }));
    const next =
      page < 2
        ? `${server.url}/kubernetes_operators/k8sop_1/bound_endpoints?limit=100&before_id=${page + 1}`
        : null;
    return { status: 200, body: { endpoints, uri: req.url, next_page_uri: next } };
  });
  const endpoints = await client(server).api.listBoundEndpoints('k8sop_1');
  assert.deepEqual(
    endpoints.map((e) => e.id),
    ['ep_0', 'ep_1', 'ep_2', 'ep_3', 'ep_4', 'ep_5'],
  );
  assert.equal(server.requests.length, 3);
  assert.equal(server.requests[0]?.url, '/kubernetes_operators/k8sop_1/bound_endpoints?limit=100');
  assert.ok(server.requests.every((req) => req.headers.authorization === `Bearer ${API_KEY}`));
});

test('a next_page_uri on another origin is refused and never contacted', async () => {
  const foreign = await stub(() => ({ status: 200, body: { endpoints: [], next_page_uri: null } }));
  const server = await stub(() => ({
    status: 200,
    body: { endpoints: [{ id: 'ep_1' }], next_page_uri: `${foreign.url}/endpoints?before_id=ep_1` },
  }));
  await expectError(
    client(server).api.listEndpoints(),
    'API_ERROR',
    'refusing to follow next_page_uri',
    foreign.url,
  );
  assert.equal(foreign.requests.length, 0);
});

test('a next_page_uri that repeats is an error, not a loop', async () => {
  const server: ApiStub = await stub(() => ({
    status: 200,
    body: {
      operators: [operator],
      next_page_uri: `${server.url}/kubernetes_operators?limit=100&before_id=k8sop_1`,
    },
  }));
  await expectError(client(server).api.listOperators(), 'API_ERROR', 'repeats an earlier page');
  assert.equal(server.requests.length, 2);
});

test('404 means gone for get and delete; a malformed body is an API error', async () => {
  const server = await stub((req) => {
    if (req.url.endsWith('/k8sop_gone')) return ngrokError(404, 404, 'not found');
    if (req.method === 'DELETE') return { status: 204 };
    return { status: 200, body: { nope: true } };
  });
  const { api } = client(server);
  assert.equal(await api.getOperator('k8sop_gone'), undefined);
  assert.equal(await api.deleteOperator('k8sop_gone'), false);
  assert.equal(await api.deleteOperator('k8sop_1'), true);
  await expectError(api.getOperator('k8sop_1'), 'API_ERROR', 'unexpected response', 'id');
});

test('an empty API key is refused before any request', () => {
  assert.throws(
    () => new NgrokApi({ apiKey: ' ' }),
    (err: unknown) => err instanceof NgrokdError && err.code === 'API_KEY_MISSING',
  );
});
