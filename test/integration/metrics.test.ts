/**
 * `server.metrics_address`: traffic through real listeners against the simulator shows up on
 * GET /metrics, read back with an independent Prometheus text-format parser: per-endpoint bytes,
 * connections, errors by ngrok code, the upgrade histogram, API requests by status, reconcile
 * passes, the endpoint count and the warm pool. Labels are hostnames only (no paths).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import parsePrometheusTextFormat, {
  type ParsedFamily,
  type ParsedSample,
} from 'parse-prometheus-text-format';
import type { EndpointView } from '../../main/common/contract.ts';
import { validateConfig } from '../../main/engine/config.ts';
import { startEngineHarness, type EngineHarness } from '../support/engine-fixture.ts';
import { httpRequest } from '../support/http.ts';
import { eventually } from '../support/tls-fixtures.ts';
import { userModeEngine } from '../support/user-mode-engine.ts';

const SUBNET = '127.145.0.0/16';

describe('Prometheus metrics', () => {
  let h: EngineHarness;
  let url: string;
  const endpoint = (hostname: string): EndpointView => {
    const e = h.engine.endpoints().find((x) => x.hostname === hostname);
    assert.ok(e, hostname);
    return e;
  };
  const scrape = async (): Promise<{ text: string; families: Map<string, ParsedFamily>; type: string }> => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    const text = await res.text();
    const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    return { text, families, type: res.headers.get('content-type') ?? '' };
  };
  const sample = (
    f: Map<string, ParsedFamily>,
    name: string,
    labels: Record<string, string> = {},
  ): number => {
    const family = f.get(name);
    assert.ok(family, `no ${name}`);
    const m = family.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
    assert.ok(m, `no ${name}${JSON.stringify(labels)} in ${JSON.stringify(family.metrics)}`);
    return Number(m.value ?? m.count);
  };

  /**
   * One endpoint's series of a labelled histogram. The parser folds every series of a histogram
   * into one (it drops their labels), so it is given that endpoint's lines alone, label removed.
   */
  const histogram = (text: string, name: string, hostname: string): ParsedSample | undefined => {
    const label = `endpoint="${hostname}"`;
    const lines = text
      .split('\n')
      .filter((l) => l.startsWith(`${name}_`) && l.includes(label))
      .map((l) =>
        l
          .replace(new RegExp(`,?${label.replaceAll('.', '\\.')},?`), (m) =>
            m.startsWith(',') && m.endsWith(',') ? ',' : '',
          )
          .replace('{}', ''),
      );
    if (lines.length === 0) return undefined;
    return parsePrometheusTextFormat([`# TYPE ${name} histogram`, ...lines, ''].join('\n'))[0]?.metrics[0];
  };

  before(async () => {
    h = await startEngineHarness({
      subnet: SUBNET,
      sim: {
        endpoints: [
          { url: 'http://web.prod' },
          { url: 'http://refused.prod' },
          { url: 'tcp://db.internal:5432' },
        ],
      },
    });
    await h.engine.stop();
    h.engine = userModeEngine(
      { ...h.config, server: { ...h.config.server, metrics_address: '127.0.0.1:0' } },
      h.hostsPath,
    );
    await h.engine.start();
    const address = h.engine.metricsAddress;
    assert.ok(address);
    url = `http://127.0.0.1:${address.port}/metrics`;
  });
  after(async () => h?.close());

  test('off by default; only loopback addresses are accepted, naming the value', () => {
    assert.equal(validateConfig({}).server.metrics_address, undefined);
    assert.equal(
      validateConfig({ server: { metrics_address: '127.0.0.1:9107' } }).server.metrics_address,
      '127.0.0.1:9107',
    );
    assert.equal(
      validateConfig({ server: { metrics_address: '[::1]:9107' } }).server.metrics_address,
      '[::1]:9107',
    );
    assert.throws(
      () => validateConfig({ server: { metrics_address: '0.0.0.0:9107' } }),
      /server\.metrics_address.*"0\.0\.0\.0" is not a loopback address/,
    );
    assert.throws(
      () => validateConfig({ server: { metrics_address: 'localhost' } }),
      /"localhost" is not HOST:PORT/,
    );
    assert.throws(
      () => validateConfig({ server: { metrics_address: '127.300.0.1:9107' } }),
      /"127\.300\.0\.1" is not a loopback address/,
      'not an address: it would go to a resolver',
    );
  });

  test('traffic, refusals, API requests and passes appear on /metrics and parse as Prometheus text', async () => {
    const web = endpoint('web.prod');
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest(web.ip, web.listen_port, {
        path: `/bytes/${1000 + i}`,
        headers: { Host: web.hostname },
      });
      assert.equal(res.status, 200);
    }
    h.sim.ingress.failHost('refused.prod', { errorCode: 'ERR_NGROK_8012', errorMessage: 'upstream refused' });
    const refused = endpoint('refused.prod');
    const res = await httpRequest(refused.ip, refused.listen_port, {
      path: '/',
      headers: { Host: refused.hostname },
    });
    assert.equal(res.status, 502);
    await h.engine.reconcile();
    // 4 local connections, and the early-data probe the first one started (on a connection of its
    // own, outside the warm pool): each sends a ConnRequest.
    await eventually(() => h.sim.ingress.requests.length === 5, 'the probe dialed too');

    const { text, families, type } = await scrape();
    assert.match(type, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(families, 'ngrokd_endpoint_connections_total', { endpoint: 'web.prod' }), 3);
    assert.equal(sample(families, 'ngrokd_endpoint_connections_active', { endpoint: 'web.prod' }), 0);
    assert.ok(sample(families, 'ngrokd_endpoint_bytes_in_total', { endpoint: 'web.prod' }) > 3000);
    assert.ok(sample(families, 'ngrokd_endpoint_bytes_out_total', { endpoint: 'web.prod' }) > 100);
    assert.equal(sample(families, 'ngrokd_endpoint_bytes_in_total', { endpoint: 'db.internal' }), 0);
    assert.equal(
      sample(families, 'ngrokd_endpoint_errors_total', { endpoint: 'refused.prod', code: 'ERR_NGROK_8012' }),
      1,
    );
    assert.equal(families.get('ngrokd_endpoint_errors_total')?.type, 'COUNTER');

    assert.equal(families.get('ngrokd_endpoint_upgrade_duration_seconds')?.type, 'HISTOGRAM');
    const webUpgrades = histogram(text, 'ngrokd_endpoint_upgrade_duration_seconds', 'web.prod');
    assert.equal(webUpgrades?.count, '3');
    assert.equal(webUpgrades?.buckets?.['+Inf'], '3');
    assert.ok(Number(webUpgrades?.sum) > 0);

    assert.ok(sample(families, 'ngrokd_api_requests_total', { method: 'GET', status: '200' }) >= 2);
    assert.ok(
      sample(families, 'ngrokd_reconcile_duration_seconds') >= 2,
      'the start pass and the one asked for',
    );
    assert.equal(families.get('ngrokd_reconcile_duration_seconds')?.type, 'HISTOGRAM');
    assert.equal(sample(families, 'ngrokd_endpoints', { state: 'listening' }), 3);
    const hits = sample(families, 'ngrokd_warm_pool_hits_total');
    const misses = sample(families, 'ngrokd_warm_pool_misses_total');
    assert.equal(hits + misses, 4, 'every local connection was a warm hit or a miss, the probe neither');
    assert.ok(sample(families, 'ngrokd_process_resident_memory_bytes') > 0, 'process metrics too');

    // Bounded labels: hostnames, codes, methods and statuses; never a path or query.
    assert.doesNotMatch(text, /bytes\/100/);
    const labelNames = new Set(
      [...text.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
        [...(m[1] ?? '').matchAll(/(\w+)="/g)].map((x) => x[1]),
      ),
    );
    for (const name of labelNames)
      assert.ok(
        [
          'endpoint',
          'code',
          'method',
          'status',
          'state',
          'le',
          'version',
          'major',
          'minor',
          'patch',
          'space',
          'kind',
          'type',
        ].includes(name ?? ''),
        `label ${name}`,
      );
  });

  test('an endpoint turned off is counted as off; a removed one loses its latency series', async () => {
    await h.engine.setEndpoint('web.prod', { enabled: false });
    let { families, text } = await scrape();
    assert.equal(sample(families, 'ngrokd_endpoints', { state: 'off' }), 1);
    assert.ok(
      histogram(text, 'ngrokd_endpoint_upgrade_duration_seconds', 'web.prod'),
      'turned off, not gone: it keeps its series',
    );
    await h.engine.setEndpoint('web.prod', { enabled: true });
    assert.equal(h.sim.api.removeEndpoint(endpoint('web.prod').id), true);
    await h.engine.reconcile();
    ({ families, text } = await scrape());
    assert.equal(sample(families, 'ngrokd_endpoints', { state: 'listening' }), 2);
    assert.equal(histogram(text, 'ngrokd_endpoint_upgrade_duration_seconds', 'web.prod'), undefined);
    assert.ok(histogram(text, 'ngrokd_endpoint_upgrade_duration_seconds', 'refused.prod') === undefined);
    assert.doesNotMatch(text, /endpoint="web\.prod"/, 'no series for a removed endpoint');
  });

  test('a request naming another host (DNS rebinding) is refused', async () => {
    const port = Number(new URL(url).port);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/metrics', headers: { Host: `evil.example:${port}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.once('error', reject);
      req.end();
    });
    assert.equal(status, 421);
  });

  test('only GET /metrics is served', async () => {
    assert.equal((await fetch(url.replace('/metrics', '/'))).status, 404);
    assert.equal((await fetch(url, { method: 'POST' })).status, 405);
  });
});
