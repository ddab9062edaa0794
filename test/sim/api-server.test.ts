/**
 * The simulated API's fault modes (shared/ngrok-protocol.md §1, §5), over real sockets: requests
 * that hang, `Retry-After` in seconds, as an HTTP date or absent, ERR_NGROK_225 for simultaneous
 * requests, failing renewals, short certificates and a clock of the test's choosing.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createCa, createClientCsr } from './ca.ts';
import { ApiServer } from './api-server.ts';
import { VirtualClock } from '../support/virtual-clock.ts';

const API_KEY = 'test-key';
const clock = new VirtualClock();
let api: ApiServer;

before(async () => {
  api = await ApiServer.start({
    apiKey: API_KEY,
    clientCa: await createCa('CN=Test Client CA'),
    now: clock.now,
  });
});
after(() => api.close());
beforeEach(() => {
  api.clearFailures();
  api.maxConcurrentRequests = undefined;
});

async function call(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> | null }> {
  const res = await fetch(`${api.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${API_KEY}`, 'ngrok-version': '2', 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? null : JSON.parse(text) };
}

async function register(): Promise<{
  id: string;
  cert: { cert: string; not_before: string; not_after: string };
}> {
  const { csrPem } = await createClientCsr();
  const reply = await call('/kubernetes_operators', {
    method: 'POST',
    body: { enabled_features: ['bindings'], binding: { endpoint_selectors: ['true'], csr: csrPem } },
  });
  assert.equal(reply.status, 201);
  const binding = reply.body?.binding as { cert: { cert: string; not_before: string; not_after: string } };
  return { id: String(reply.body?.id), cert: binding.cert };
}

test('a hanging request is accepted and never answered', async () => {
  api.injectFailures(1, { hang: true, paths: ['/endpoints'] });
  await assert.rejects(call('/endpoints', { signal: AbortSignal.timeout(200) }), { name: 'TimeoutError' });
  const hung = api.requestLog.at(-1);
  assert.deepEqual([hung?.path, hung?.status], ['/endpoints', 0]);
  assert.equal((await call('/endpoints')).status, 200, 'only the next matching request hangs');
});

test('Retry-After on a 429 is sent in seconds, as an HTTP date, or not at all', async () => {
  api.injectFailures(1, { status: 429, retryAfterSeconds: 5 });
  const seconds = await call('/endpoints');
  assert.deepEqual([seconds.status, seconds.body?.error_code], [429, 'ERR_NGROK_226']);
  assert.equal(seconds.headers.get('retry-after'), '5');

  const at = new Date(clock.now() + 7000);
  api.injectFailures(1, { status: 429, retryAfterDate: at });
  const date = await call('/endpoints');
  assert.equal(date.headers.get('retry-after'), at.toUTCString());
  assert.equal(Date.parse(date.headers.get('retry-after') ?? ''), Math.floor(at.getTime() / 1000) * 1000);

  api.injectFailures(1, { status: 429 });
  const none = await call('/endpoints');
  assert.deepEqual([none.status, none.headers.get('retry-after')], [429, null]);
});

test('ERR_NGROK_225: injected, or beyond a limit of simultaneous requests', async () => {
  api.injectFailures(1, { status: 429, errorCode: 'ERR_NGROK_225', retryAfterSeconds: 2 });
  const injected = await call('/endpoints');
  assert.deepEqual([injected.status, injected.body?.error_code], [429, 'ERR_NGROK_225']);
  assert.match(String(injected.body?.msg), /simultaneous/);
  assert.equal(injected.headers.get('retry-after'), '2');

  api.maxConcurrentRequests = 1;
  api.injectFailures(1, { hang: true, paths: ['/kubernetes_operators'] });
  const controller = new AbortController();
  const holding = call('/kubernetes_operators', { signal: controller.signal }).catch(() => undefined);
  // The hanging one is in flight once the log shows it; the next request is one too many.
  while (api.requestLog.at(-1)?.path !== '/kubernetes_operators') await new Promise((r) => setImmediate(r));
  const second = await call('/endpoints');
  assert.deepEqual([second.status, second.body?.error_code], [429, 'ERR_NGROK_225']);
  controller.abort();
  await holding;
});

test('renewals can be made to fail, and certificates can live for seconds on the test clock', async () => {
  api.certLifetimeSeconds = 120;
  const op = await register();
  const validity = new X509Certificate(op.cert.cert);
  assert.equal(new Date(op.cert.not_after).getTime() - Math.floor(clock.now() / 1000) * 1000, 120_000);
  assert.equal(validity.validToDate.toISOString(), new Date(op.cert.not_after).toISOString());
  assert.equal(api.certLifetimeDays, 120 / 86_400);

  api.injectFailures(1, { status: 500, errorCode: 'ERR_NGROK_20006', renewalsOnly: true });
  const selectors = await call(`/kubernetes_operators/${op.id}`, {
    method: 'PATCH',
    body: { binding: { endpoint_selectors: ['false'] } },
  });
  assert.equal(selectors.status, 200, 'a PATCH without a CSR is not a renewal');
  const { csrPem } = await createClientCsr();
  const renewal = { method: 'PATCH', body: { binding: { csr: csrPem } } };
  const failed = await call(`/kubernetes_operators/${op.id}`, renewal);
  assert.deepEqual([failed.status, failed.body?.error_code], [500, 'ERR_NGROK_20006']);
  assert.match(String(failed.body?.msg), /could not be signed/);

  clock.advance(60_000);
  const renewed = await call(`/kubernetes_operators/${op.id}`, renewal);
  assert.equal(renewed.status, 200);
  const cert = (renewed.body?.binding as { cert: { not_after: string } }).cert;
  assert.equal(new Date(cert.not_after).getTime() - new Date(op.cert.not_after).getTime(), 60_000);
  api.certLifetimeDays = 365;
});

test('the request log and the rate limit run on the test clock', async () => {
  const before = api.requestsInLastMinute();
  await call('/endpoints');
  assert.equal(api.requestsInLastMinute(), before + 1);
  assert.equal(api.requestLog.at(-1)?.at, clock.now());
  clock.advance(60_000);
  assert.equal(api.requestsInLastMinute(), 0);
});
