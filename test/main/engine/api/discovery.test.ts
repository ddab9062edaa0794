import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { discoverEndpoints, groupEndpoints } from '../../../../main/engine/api/discovery.ts';
import { NgrokApi } from '../../../../main/engine/api/ngrok-api.ts';
import { startApiStub, type ApiStub } from './api-fixtures.ts';

test('pooled endpoints with one URL become one entry with sorted ids', () => {
  const { endpoints, problems } = groupEndpoints([
    { id: 'ep_c', url: 'http://web.prod', name: 'web-c' },
    { id: 'ep_a', url: 'HTTP://Web.Prod:80/', description: 'pool member a' },
    { id: 'ep_b', url: 'http://web.prod:80', name: 'web-b' },
  ]);
  assert.deepEqual(problems, []);
  assert.deepEqual(endpoints, [
    {
      url: 'http://web.prod:80',
      address: { proto: 'http', hostname: 'web.prod', port: 80, normalized: 'http://web.prod:80' },
      ids: ['ep_a', 'ep_b', 'ep_c'],
      name: 'web-b',
      description: 'pool member a',
    },
  ]);
});

test('url falls back to public_url; ports split one hostname into separate entries', () => {
  const { endpoints, problems } = groupEndpoints([
    { id: 'ep_1', public_url: 'tcp://db.prod:5432' },
    { id: 'ep_2', url: 'tls://db.prod', public_url: 'tcp://ignored.prod:1' },
    { id: 'ep_3', url: 'https://api.ngrok.app' },
  ]);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    endpoints.map((e) => [e.url, e.address.hostname, e.ids]),
    [
      ['https://api.ngrok.app:443', 'api.ngrok.app', ['ep_3']],
      ['tcp://db.prod:5432', 'db.prod', ['ep_1']],
      ['tls://db.prod:443', 'db.prod', ['ep_2']],
    ],
  );
});

test('invalid URLs are reported with id and URL, never thrown', () => {
  const { endpoints, problems } = groupEndpoints([
    { id: 'ep_ok', url: 'http://ok.prod' },
    { id: 'ep_wild', url: 'http://*.prod' },
    { id: 'ep_noport', url: 'tcp://db.prod' },
    { id: 'ep_none' },
    { id: 'ep_scheme', url: 'ftp://files.prod' },
  ]);
  assert.deepEqual(
    endpoints.map((e) => e.url),
    ['http://ok.prod:80'],
  );
  assert.deepEqual(
    problems.map((p) => p.code),
    ['URL_INVALID', 'URL_INVALID', 'URL_INVALID', 'URL_INVALID'],
  );
  const byId = (id: string) => problems.find((p) => p.message.includes(id));
  assert.match(byId('ep_wild')?.message ?? '', /http:\/\/\*\.prod.*wildcard/);
  assert.match(byId('ep_noport')?.message ?? '', /tcp:\/\/db\.prod.*no port/);
  assert.match(byId('ep_none')?.message ?? '', /has no url/);
  assert.match(byId('ep_scheme')?.message ?? '', /ftp:\/\/files\.prod.*unsupported scheme/);
  assert.ok(problems.every((p) => p.fix.length > 0));
});

test('the result is the same whatever order or duplication the API returns', () => {
  const raw = [
    { id: 'ep_2', url: 'http://b.prod' },
    { id: 'ep_1', url: 'http://a.prod' },
    { id: 'ep_3', url: 'http://a.prod' },
  ];
  const expected = groupEndpoints(raw);
  assert.deepEqual(groupEndpoints([...raw].reverse()), expected);
  assert.deepEqual(groupEndpoints([...raw, ...raw]), expected);
  assert.deepEqual(
    expected.endpoints.map((e) => e.ids),
    [['ep_1', 'ep_3'], ['ep_2']],
  );
});

const stubs: ApiStub[] = [];
after(() => Promise.all(stubs.map((s) => s.close())));

test('discoverEndpoints reads every page of the operator’s bound endpoints', async () => {
  const server: ApiStub = await startApiStub((req) => {
    const second = req.url.includes('before_id');
    return {
      status: 200,
      body: second
        ? {
            endpoints: [
              { id: 'ep_2', url: 'http://web.prod' },
              { id: 'ep_3', url: 'bad' },
            ],
            next_page_uri: null,
          }
        : {
            endpoints: [{ id: 'ep_1', url: 'http://web.prod' }],
            next_page_uri: `${server.url}/kubernetes_operators/k8sop_1/bound_endpoints?limit=100&before_id=ep_1`,
          },
    };
  });
  stubs.push(server);
  const api = new NgrokApi({ apiKey: 'key', baseUrl: server.url });
  const { endpoints, problems } = await discoverEndpoints(api, 'k8sop_1');
  assert.deepEqual(
    endpoints.map((e) => [e.url, e.ids]),
    [['http://web.prod:80', ['ep_1', 'ep_2']]],
  );
  assert.equal(problems.length, 1);
  assert.match(problems[0]?.message ?? '', /ep_3.*"bad"/);
  assert.equal(server.requests.length, 2);
});
