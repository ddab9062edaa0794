/**
 * Prometheus metrics (`server.metrics_address`, off by default), in the text format written by
 * prom-client. Per-endpoint figures are read from the forwarder's counters when scraped (nothing
 * is added to the per-chunk path); the upgrade-latency histogram is observed once per connection,
 * API requests once per attempt, reconcile passes once per pass. Labels are bounded: the endpoint's
 * hostname (never a path or a client address), an error code, an HTTP method and status.
 */
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { NgrokdError } from '../common/errors.ts';
import { parseLoopbackAddress } from '../common/schemas.ts';
import type { EndpointCounters } from './forwarder/counters.ts';
import type { ForwarderMetrics } from './forwarder/endpoint-listener.ts';

export interface MetricsSource {
  /** Every endpoint now, with its live counters (null while it has no listener). */
  endpoints(): Iterable<{
    hostname: string;
    counters: EndpointCounters | null;
    listening: boolean;
    enabled: boolean;
  }>;
  /** The dialer's warm-pool figures, null before the first registration. */
  warmPool(): { hits: number; misses: number; stale: number } | null;
}

/** Upgrade latency (accept → ConnResponse) buckets, seconds: loopback to a slow satellite link. */
const UPGRADE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Per-hostname sums: an endpoint's URLs (http and https on one name) are one series. */
function byHostname(source: MetricsSource): Map<string, EndpointCounters[]> {
  const out = new Map<string, EndpointCounters[]>();
  for (const e of source.endpoints()) {
    const list = out.get(e.hostname) ?? [];
    if (e.counters !== null) list.push(e.counters);
    out.set(e.hostname, list);
  }
  return out;
}

/** A Host header naming a loopback address (or none, as HTTP/1.0 clients send). */
function loopbackHost(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
  return typeof parseLoopbackAddress(`${name}:1`) !== 'string';
}

export class EngineMetrics implements ForwarderMetrics {
  readonly registry = new Registry();
  readonly #upgrades: Histogram<'endpoint'>;
  readonly #apiRequests: Counter<'method' | 'status'>;
  readonly #reconcile: Histogram;
  /** Hostnames with a latency series. */
  readonly #observed = new Set<string>();
  #server: http.Server | null = null;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ngrokd_' });
    /** A counter whose value is a total kept elsewhere: set at scrape time. */
    const total = (name: string, help: string, value: (c: EndpointCounters) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['endpoint'],
        registers,
        collect() {
          this.reset();
          for (const [hostname, counters] of byHostname(source))
            this.inc(
              { endpoint: hostname },
              counters.reduce((sum, c) => sum + value(c), 0),
            );
        },
      });
    };
    total(
      'ngrokd_endpoint_bytes_in_total',
      'Bytes received from the ingress and delivered to local clients.',
      (c) => c.bytesIn,
    );
    total(
      'ngrokd_endpoint_bytes_out_total',
      'Bytes sent from local clients to the ingress.',
      (c) => c.bytesOut,
    );
    total('ngrokd_endpoint_connections_total', 'Local connections accepted.', (c) => c.total);
    new Gauge({
      name: 'ngrokd_endpoint_connections_active',
      help: 'Local connections open now.',
      labelNames: ['endpoint'],
      registers,
      collect() {
        this.reset();
        for (const [hostname, counters] of byHostname(source))
          this.set(
            { endpoint: hostname },
            counters.reduce((sum, c) => sum + c.active, 0),
          );
      },
    });
    new Counter({
      name: 'ngrokd_endpoint_errors_total',
      help: 'Connections that failed, by code (the ngrok ERR_NGROK_… code when the ingress refused).',
      labelNames: ['endpoint', 'code'],
      registers,
      collect() {
        this.reset();
        for (const [hostname, counters] of byHostname(source))
          for (const c of counters)
            for (const [code, n] of c.errorsByCode ?? []) this.inc({ endpoint: hostname, code }, n);
      },
    });
    new Gauge({
      name: 'ngrokd_endpoints',
      help: 'Endpoints discovered, by state (listening, down: on but not listening, off: turned off).',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = { listening: 0, down: 0, off: 0 };
        for (const e of source.endpoints()) counts[!e.enabled ? 'off' : e.listening ? 'listening' : 'down']++;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    const warm = (
      name: string,
      help: string,
      value: (w: { hits: number; misses: number; stale: number }) => number,
    ): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          const w = source.warmPool();
          if (w !== null) this.inc(value(w));
        },
      });
    };
    warm(
      'ngrokd_warm_pool_hits_total',
      'New connections served by a pre-opened ingress connection.',
      (w) => w.hits,
    );
    warm(
      'ngrokd_warm_pool_misses_total',
      'New connections that had to open an ingress connection first.',
      (w) => w.misses,
    );
    warm(
      'ngrokd_warm_pool_stale_total',
      'Pre-opened connections found dead when used (retried fresh).',
      (w) => w.stale,
    );
    this.#upgrades = new Histogram({
      name: 'ngrokd_endpoint_upgrade_duration_seconds',
      help: 'From accepting a local connection to the ingress accepting it (ConnResponse).',
      labelNames: ['endpoint'],
      buckets: UPGRADE_BUCKETS,
      registers,
      collect: () => {
        // Endpoints that are gone lose their series: the label set stays the endpoints of now.
        const current = new Set(byHostname(source).keys());
        for (const hostname of this.#observed)
          if (!current.has(hostname)) {
            this.#upgrades.remove({ endpoint: hostname });
            this.#observed.delete(hostname);
          }
      },
    });
    this.#apiRequests = new Counter({
      name: 'ngrokd_api_requests_total',
      help: 'Requests (attempts) to the ngrok API, by method and HTTP status ("none": no answer).',
      labelNames: ['method', 'status'],
      registers,
    });
    this.#reconcile = new Histogram({
      name: 'ngrokd_reconcile_duration_seconds',
      help: 'Reconcile passes: discovery, addresses, listeners and the hosts file.',
      buckets: RECONCILE_BUCKETS,
      registers,
    });
  }

  upgraded(hostname: string, ms: number): void {
    this.#observed.add(hostname);
    this.#upgrades.observe({ endpoint: hostname }, ms / 1000);
  }

  apiRequest(method: string, status: number | undefined): void {
    this.#apiRequests.inc({ method, status: status === undefined ? 'none' : String(status) });
  }

  reconciled(ms: number): void {
    this.#reconcile.observe(ms / 1000);
  }

  /** Serve GET /metrics on `address` (a loopback HOST:PORT, validated again here). */
  async serve(address: string): Promise<{ host: string; port: number }> {
    const parsed = parseLoopbackAddress(address);
    if (typeof parsed === 'string')
      throw new NgrokdError(
        'CONFIG_INVALID',
        `server.metrics_address: ${parsed}`,
        'Set server.metrics_address to a loopback HOST:PORT, or remove it.',
      );
    const server = http.createServer((req, res) => {
      // DNS rebinding: a web page that makes some name resolve to 127.0.0.1 still sends that name.
      if (!loopbackHost(req.headers.host)) {
        res.writeHead(421, { 'content-type': 'text/plain' }).end('Misdirected: use a loopback address\n');
        return;
      }
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) =>
          res
            .writeHead(200, { 'content-type': this.registry.contentType })
            .end(req.method === 'HEAD' ? undefined : text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new NgrokdError(
            'CONFIG_INVALID',
            `server.metrics_address ${address} cannot be served: ${err.code ?? err.message}`,
            err.code === 'EADDRINUSE'
              ? 'Another program uses that port: pick another one for server.metrics_address.'
              : 'Pick another address for server.metrics_address.',
          ),
        ),
      );
      server.listen(parsed.port, parsed.host === 'localhost' ? '127.0.0.1' : parsed.host, resolve);
    });
    this.#server = server;
    const bound = server.address() as { port: number };
    return { host: parsed.host, port: bound.port };
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
