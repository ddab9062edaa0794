/**
 * The renderer's pure logic: traffic rates and sparklines from successive snapshots (looking again
 * only at endpoints that changed), endpoint filtering with an index rebuilt only when the set
 * changes, and the units it shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointView, StateSnapshot, StatusView } from '../../../main/common/contract.ts';
import { HISTORY_SECONDS, RATE_WINDOW, TrafficHistory } from '../../../renderer/src/traffic.ts';
import { filterEndpoints, searchIndex } from '../../../renderer/src/endpoint-filter.ts';
import { formatBytes, formatRate, formatRelative } from '../../../renderer/src/format.ts';

function view(
  url: string,
  bytesIn: number,
  bytesOut: number,
  extra: Partial<EndpointView> = {},
): EndpointView {
  const [, proto = 'http', hostname = '', port = '80'] = /^(\w+):\/\/([^:]+)(?::(\d+))?/.exec(url) ?? [];
  return {
    id: url,
    ids: [url],
    url,
    proto: proto as EndpointView['proto'],
    hostname,
    ip: '127.142.0.2',
    port: Number(port),
    listen_port: Number(port),
    listening: true,
    enabled: true,
    pinned: false,
    bytes_in: bytesIn,
    bytes_out: bytesOut,
    connections: 0,
    connections_total: 0,
    errors: 0,
    last_error: null,
    upgrade_ms_p50: null,
    last_ok_at: null,
    last_ingress_error: null,
    ...extra,
  };
}

function snapshot(endpoints: EndpointView[]): StateSnapshot {
  const totals = { bytes_in: 0, bytes_out: 0, connections: 0 };
  for (const e of endpoints) {
    totals.bytes_in += e.bytes_in;
    totals.bytes_out += e.bytes_out;
  }
  return { status: { totals } as StatusView, endpoints };
}

const T0 = 1_700_000_000_000; // a whole second

test('rates come from counter differences, averaged over the last complete seconds', () => {
  const h = new TrafficHistory();
  h.record(snapshot([view('http://web.prod', 5_000, 100)]), T0); // baseline: history before it is unknown
  h.record(snapshot([view('http://web.prod', 8_000, 400)]), T0 + 1000);
  h.record(snapshot([view('http://web.prod', 14_000, 400)]), T0 + 2000);
  const rate = h.rate('http://web.prod', T0 + 3000);
  assert.equal(rate.in, (3_000 + 6_000) / RATE_WINDOW);
  assert.equal(rate.out, 300 / RATE_WINDOW);
  assert.deepEqual(h.rate(TrafficHistory.TOTAL, T0 + 3000), rate);
  assert.equal(
    h.rate('http://web.prod', T0 + 2000).in,
    3_000 / RATE_WINDOW,
    'the current second is not complete',
  );
  assert.deepEqual(h.rate('http://web.prod', T0 + 60_000), { in: 0, out: 0 }, 'an idle minute later');
});

test('a counter that goes down was reset (listener reopened): its new value is the traffic', () => {
  const h = new TrafficHistory();
  h.record(snapshot([view('http://web.prod', 50_000, 0)]), T0);
  h.record(snapshot([view('http://web.prod', 900, 0)]), T0 + 1000);
  assert.equal(h.rate('http://web.prod', T0 + 2000).in, 900 / RATE_WINDOW);
});

test('sparkline points cover three minutes, oldest first, and old traffic scrolls out', () => {
  const h = new TrafficHistory();
  h.record(snapshot([view('tcp://db.demo:5432', 0, 0)]), T0);
  h.record(snapshot([view('tcp://db.demo:5432', 6_000, 0)]), T0 + 1000);
  const now = T0 + 2000;
  const points = h.points('tcp://db.demo:5432', now, 60);
  assert.equal(points.length, 60);
  assert.equal(points.at(-1), 6_000 / (HISTORY_SECONDS / 60), 'the newest bucket holds it');
  assert.equal(
    points.slice(0, -1).every((p) => p === 0),
    true,
  );
  const later = h.points('tcp://db.demo:5432', now + HISTORY_SECONDS * 1000, 60);
  assert.equal(
    later.every((p) => p === 0),
    true,
    'three minutes later it is gone',
  );
});

test('an endpoint that disappears takes its history with it', () => {
  const h = new TrafficHistory();
  h.record(snapshot([view('http://a.b', 0, 0), view('http://c.d', 0, 0)]), T0);
  h.record(snapshot([view('http://a.b', 10, 0), view('http://c.d', 0, 0)]), T0 + 1000);
  h.record(snapshot([view('http://c.d', 0, 0)]), T0 + 2000);
  assert.deepEqual(h.points('http://a.b', T0 + 3000, 4), [0, 0, 0, 0]);
  assert.deepEqual(h.points('http://c.d', T0 + 3000, 4), [0, 0, 0, 0]);
});

test('filtering: every term must match hostname, address, URL or protocol, case-insensitively', () => {
  const endpoints = [
    view('http://web.prod', 0, 0),
    view('tcp://postgres.db:5432', 0, 0, { ip: '127.142.0.9' }),
    view('http://grafana.monitoring:3000', 0, 0, { listening: false }),
  ];
  const index = searchIndex(endpoints);
  const hosts = (q: string): string[] => filterEndpoints(endpoints, index, q).map((e) => e.hostname);
  assert.equal(filterEndpoints(endpoints, index, '  '), endpoints, 'no query: the same array');
  assert.deepEqual(hosts('PROD'), ['web.prod']);
  assert.deepEqual(hosts('127.142.0.9:5432'), ['postgres.db']);
  assert.deepEqual(hosts('tcp db'), ['postgres.db']);
  assert.deepEqual(hosts('http error'), ['grafana.monitoring']);
  assert.deepEqual(hosts('nothing'), []);
});

test("the search index is rebuilt only when the set or an endpoint's text changes, not for counters", () => {
  const endpoints = Array.from({ length: 1000 }, (_, i) => view(`http://svc-${i}.prod`, i, 0));
  const index = searchIndex(endpoints);
  assert.equal(searchIndex(endpoints), index, 'the same endpoints: the same index');
  // A delta that moved counters: a new array, unchanged endpoints keep their objects.
  const counters = endpoints.map((e, i) => (i === 7 ? { ...e, bytes_in: e.bytes_in + 100 } : e));
  assert.equal(searchIndex(counters), index, 'counters are not searched: the same index');
  const down = counters.map((e, i) => (i === 7 ? { ...e, listening: false } : e));
  const changed = searchIndex(down);
  assert.notEqual(changed, index);
  assert.deepEqual(
    filterEndpoints(down, changed, 'error').map((e) => e.hostname),
    ['svc-7.prod'],
  );
  const fewer = down.slice(1);
  assert.deepEqual(
    filterEndpoints(fewer, searchIndex(fewer), 'svc-1.').map((e) => e.hostname),
    ['svc-1.prod'],
    'a new set: a new index',
  );
});

test('an endpoint whose object did not change is not looked at again, and its history stays', () => {
  const h = new TrafficHistory();
  const a = view('http://a.b', 0, 0);
  const c = view('http://c.d', 0, 0);
  h.record(snapshot([a, c]), T0);
  const a1 = { ...a, bytes_in: 4_000 };
  h.record(snapshot([a1, c]), T0 + 1000);
  // A snapshot rebuilt from a delta: c and a1 are the objects seen before.
  h.record(snapshot([a1, c]), T0 + 2000);
  assert.equal(h.rate('http://a.b', T0 + 3000).in, 4_000 / RATE_WINDOW);
  h.record(snapshot([c]), T0 + 3000);
  assert.deepEqual(h.rate('http://a.b', T0 + 4000), { in: 0, out: 0 }, 'gone with its endpoint');
});

test('units are short and SI', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1_500), '1.5 KB');
  assert.equal(formatBytes(25_000), '25 KB');
  assert.equal(formatBytes(3_200_000), '3.2 MB');
  assert.equal(formatRate(0.4), '0 B/s');
  assert.equal(formatRelative(new Date(T0 - 90_000).toISOString(), T0), '2 min ago');
  assert.equal(formatRelative(new Date(T0 + 3 * 86_400_000).toISOString(), T0), 'in 3 days');
  assert.equal(formatRelative(null, T0), '—');
});
