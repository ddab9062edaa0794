/**
 * `npm run bench`: the forwarder's numbers side by side in one run, printed as one JSON document on
 * stdout (progress goes to stderr). No assertions: each ratio carries its target and meets_target.
 *
 * Topology: the simulator (API, mTLS ingress, backends) runs in a child process, as ngrok's side is
 * another machine in real life; the forwarder, its dialer and the measuring client share this one.
 */
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseEndpointUrl, type EndpointAddress } from '../../main/common/endpoint-url.ts';
import { CredentialStore } from '../../main/engine/api/credential-store.ts';
import { NgrokApi } from '../../main/engine/api/ngrok-api.ts';
import { Registration } from '../../main/engine/api/registration.ts';
import {
  BindingDialer,
  DEFAULT_SESSION_CACHE_SIZE,
  type BindingDialerOptions,
  type Dialer,
} from '../../main/engine/binding/dialer.ts';
import { DEFAULT_WARM_CONNECTIONS, DEFAULT_WARM_IDLE_MS } from '../../main/engine/binding/warm-pool.ts';
import {
  loadIngressTrust,
  type ClientCredentials,
  type IngressTrust,
} from '../../main/engine/binding/trust.ts';
import { EndpointListener } from '../../main/engine/forwarder/endpoint-listener.ts';
import { RequestStore } from '../../main/engine/inspector/store.ts';
import { DelayProxy } from './delay-proxy.ts';
import {
  download,
  firstByteMs,
  keepAliveRequests,
  median,
  mibPerSecond,
  MiB,
  percentile,
  processCpuMs,
  round,
} from './measure.ts';
import { benchEndpoints, SIM_ENV, STATE_ENV, type ReconcileResult } from './reconcile.ts';
import { RemoteSimulator, type HandshakeCounts } from './remote-simulator.ts';
import { bundleForNode, PROJECT_ROOT } from '../../main/electron/build.ts';
import { benchReference } from './reference.ts';
import { benchRenderer } from './renderer.ts';

const TRANSFER_BYTES = 256 * MiB;
const WARMUP_BYTES = 16 * MiB;
const TRANSFER_RUNS = 3;
const LATENCY_CONNECTIONS = 300;
const LATENCY_WARMUP = 20;
const ONE_WAY_DELAY_MS = 10;
/** Fewer for the TLS 1.2 reference: it only shows what a saved round trip looks like. */
const TLS12_LATENCY_CONNECTIONS = 100;
const RECONCILE_SIZES = [1_000, 10_000];
const ENDPOINT_URL = 'http://web.bench';

const TARGETS = {
  throughputRatio: 0.7,
  /** New-connection p50 of a dialer variant over that of one doing a full handshake every time. */
  overFullP50: 0.6,
  reconcile10kMs: 3_000,
  reconcile10kRssMb: 160,
  /** Inspector on over off, throughput and requests/s (issue 12: within 5 %). */
  inspectorRatio: 0.95,
};
const INSPECTOR_BYTES = 32 * MiB;
const INSPECTOR_RUNS = 9;
const RPS_CLIENTS = 50;
const RPS_SECONDS = 2;

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Everything the forwarder-side measurements share. */
interface Setup {
  sim: RemoteSimulator;
  credentials: ClientCredentials;
  trust: IngressTrust;
  address: EndpointAddress;
}

type DialerTuning = Pick<BindingDialerOptions, 'sessionCacheSize' | 'warmConnections'>;

/** What a dial did: used a warm connection, resumed a TLS session, or made a full handshake. */
type DialKind = 'warm' | 'resumed' | 'full';

/** One endpoint's local listener and the dialer behind it, noting what each dial did. */
class LocalForwarder {
  readonly dialer: BindingDialer;
  /** What the newest dial did (connections are probed one at a time). */
  lastDial: DialKind = 'full';
  port = 0;
  readonly #warmConnections: number;
  #listener: EndpointListener | null = null;

  constructor(setup: Setup, ingress: string, tuning: DialerTuning = {}) {
    this.#warmConnections = tuning.warmConnections ?? DEFAULT_WARM_CONNECTIONS;
    this.dialer = new BindingDialer({
      ingress,
      servername: setup.sim.info.ingressServerName,
      credentials: setup.credentials,
      trust: setup.trust,
      ...tuning,
    });
  }

  async listen(address: EndpointAddress, inspector: RequestStore | null = null): Promise<this> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    const counting: Dialer = {
      dial: async (host, port, options) => {
        const connection = await this.dialer.dial(host, port, options);
        this.lastDial = connection.warm ? 'warm' : connection.resumed ? 'resumed' : 'full';
        return connection;
      },
    };
    this.#listener = new EndpointListener({
      socket: { server, port: this.port },
      address,
      dialer: counting,
      inspector,
    });
    return this;
  }

  /** Until the warm pool has refilled (1 s at most), so its handshakes overlap no measurement. */
  async settled(): Promise<void> {
    const deadline = performance.now() + 1_000;
    while (this.dialer.warmSockets < this.#warmConnections && performance.now() < deadline) await sleep(1);
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    this.dialer.close();
  }
}

interface TransferRun {
  mibPerSecond: number;
  /** CPU time of this process (forwarder + client, or dialer + reader) during the transfer. */
  benchCpuMs: number;
  /** CPU time of the simulator process (backend + ingress TLS) during the transfer. */
  simCpuMs: number;
}

/** (a) 256 MiB downloads through the forwarder vs straight from one dialed connection. */
async function benchThroughput(setup: Setup): Promise<Record<string, unknown>> {
  const forwarder = await new LocalForwarder(setup, setup.sim.info.ingressEndpoint).listen(setup.address);
  const host = setup.address.hostname;
  const measured = async (bytes: number, open: () => Promise<Socket | TLSSocket>): Promise<TransferRun> => {
    const simCpu = await setup.sim.cpuMs();
    const benchCpu = processCpuMs();
    const started = performance.now();
    const received = await download(await open(), host, bytes);
    const ms = performance.now() - started;
    return {
      mibPerSecond: mibPerSecond(received, ms),
      benchCpuMs: processCpuMs() - benchCpu,
      simCpuMs: (await setup.sim.cpuMs()) - simCpu,
    };
  };
  const viaForwarder = (bytes: number): Promise<TransferRun> =>
    measured(bytes, async () => {
      const socket = connect({ host: '127.0.0.1', port: forwarder.port, noDelay: true });
      await once(socket, 'connect');
      return socket;
    });
  const direct = (bytes: number): Promise<TransferRun> =>
    measured(bytes, async () => (await forwarder.dialer.dial(host, setup.address.port)).socket);
  const summary = (runs: TransferRun[]): Record<string, unknown> => ({
    mib_s: round(median(runs.map((r) => r.mibPerSecond)), 1),
    runs_mib_s: runs.map((r) => round(r.mibPerSecond, 1)),
    bench_process_cpu_ms: round(median(runs.map((r) => r.benchCpuMs)), 0),
    simulator_process_cpu_ms: round(median(runs.map((r) => r.simCpuMs)), 0),
  });
  try {
    await viaForwarder(WARMUP_BYTES);
    await direct(WARMUP_BYTES);
    const runs = { forwarder: [] as TransferRun[], direct: [] as TransferRun[] };
    for (let i = 0; i < TRANSFER_RUNS; i++) {
      for (const [kind, run] of [
        ['forwarder', viaForwarder],
        ['direct', direct],
      ] as const) {
        const result = await run(TRANSFER_BYTES);
        runs[kind].push(result);
        progress(`throughput run ${i + 1}: ${kind} ${result.mibPerSecond.toFixed(0)} MiB/s`);
      }
    }
    const ratio =
      median(runs.forwarder.map((r) => r.mibPerSecond)) / median(runs.direct.map((r) => r.mibPerSecond));
    return {
      what: 'download direction: GET /bytes/268435456 on the simulator HTTP backend. forwarder = client → local EndpointListener → mTLS ingress → backend; direct = one connection from the same BindingDialer, read straight from the TLS socket. The client reads in the bench process, so its reads count against the forwarder. Medians of 3 runs each, alternating; CPU times are medians per 256 MiB transfer',
      bytes: TRANSFER_BYTES,
      runs_each: TRANSFER_RUNS,
      forwarder: summary(runs.forwarder),
      direct: summary(runs.direct),
      ratio_forwarder_over_direct: round(ratio, 3),
      target: `>= ${TARGETS.throughputRatio}`,
      meets_target: ratio >= TARGETS.throughputRatio,
    };
  } finally {
    await forwarder.close();
  }
}

function summarise(samples: readonly number[], roundTripMs: number | null): Record<string, number> {
  const p50 = percentile(samples, 50);
  const p99 = percentile(samples, 99);
  return {
    p50_ms: round(p50),
    p99_ms: round(p99),
    ...(roundTripMs === null
      ? {}
      : { p50_round_trips: round(p50 / roundTripMs), p99_round_trips: round(p99 / roundTripMs) }),
  };
}

function handshakeDelta(after: HandshakeCounts, before: HandshakeCounts): HandshakeCounts {
  return { full: after.full - before.full, resumed: after.resumed - before.resumed };
}

/** The dialers compared by (b) and (d); `warm` is the default BindingDialer. */
const LATENCY_VARIANTS = {
  full: {
    dialer: 'BindingDialer sessionCacheSize 0, warmConnections 0: a full handshake every time',
    tuning: { sessionCacheSize: 0, warmConnections: 0 },
  },
  resumed: {
    dialer: `BindingDialer session cache ${DEFAULT_SESSION_CACHE_SIZE}, warmConnections 0`,
    tuning: { warmConnections: 0 },
  },
  warm: {
    dialer: `BindingDialer default: session cache ${DEFAULT_SESSION_CACHE_SIZE}, warmConnections ${DEFAULT_WARM_CONNECTIONS}, warmIdleMs ${DEFAULT_WARM_IDLE_MS}`,
    tuning: {},
  },
} as const satisfies Record<string, { dialer: string; tuning: DialerTuning }>;
type LatencyVariant = keyof typeof LATENCY_VARIANTS;
const VARIANT_NAMES = Object.keys(LATENCY_VARIANTS) as LatencyVariant[];

function ratioToFull(
  samples: Record<LatencyVariant, number[]>,
  variant: LatencyVariant,
): Record<string, unknown> {
  const ratio = median(samples[variant]) / median(samples.full);
  return {
    ratio: round(ratio, 3),
    target: `<= ${TARGETS.overFullP50}`,
    meets_target: ratio <= TARGETS.overFullP50,
  };
}

/**
 * (b)/(d) connect() → first byte of an HTTP answer through three listeners, one per dialer
 * variant, interleaved.
 */
async function benchLatency(
  setup: Setup,
  ingress: string,
  roundTripMs: number | null,
  connections = LATENCY_CONNECTIONS,
): Promise<Record<string, unknown>> {
  const forwarders = {} as Record<LatencyVariant, LocalForwarder>;
  for (const name of VARIANT_NAMES) {
    forwarders[name] = await new LocalForwarder(setup, ingress, LATENCY_VARIANTS[name].tuning).listen(
      setup.address,
    );
  }
  const host = setup.address.hostname;
  try {
    for (let i = 0; i < LATENCY_WARMUP; i++) {
      for (const name of VARIANT_NAMES) await firstByteMs(forwarders[name].port, host);
    }
    const ingressBefore = await setup.sim.handshakes();
    const samples = {} as Record<LatencyVariant, number[]>;
    /** Each variant's samples by what its dial actually did. */
    const byDial = {} as Record<LatencyVariant, Record<DialKind, number[]>>;
    for (const name of VARIANT_NAMES) {
      samples[name] = [];
      byDial[name] = { warm: [], resumed: [], full: [] };
    }
    for (let i = 0; i < connections; i++) {
      // Rotate the order so no variant always follows the same one's teardown.
      const order = VARIANT_NAMES.map(
        (_, k) => VARIANT_NAMES[(i + k) % VARIANT_NAMES.length] as LatencyVariant,
      );
      for (const name of order) {
        await forwarders.warm.settled();
        const ms = await firstByteMs(forwarders[name].port, host);
        samples[name].push(ms);
        byDial[name][forwarders[name].lastDial].push(ms);
      }
      if ((i + 1) % 100 === 0) {
        progress(`latency${roundTripMs === null ? '' : ' (delayed)'}: ${i + 1}/${connections} rounds`);
      }
    }
    const ingressHandshakes = handshakeDelta(await setup.sim.handshakes(), ingressBefore);
    const variant = (name: LatencyVariant): Record<string, unknown> => {
      const dials = byDial[name];
      const kinds = (['warm', 'resumed', 'full'] as const).filter((kind) => dials[kind].length > 0);
      return {
        dialer: LATENCY_VARIANTS[name].dialer,
        ...summarise(samples[name], roundTripMs),
        ...Object.fromEntries(kinds.map((kind) => [`dials_${kind}`, dials[kind].length])),
        // Split only when the variant's dials differed.
        ...(kinds.length > 1
          ? Object.fromEntries(
              kinds.map((kind) => [`only_${kind}_dials`, summarise(dials[kind], roundTripMs)]),
            )
          : {}),
      };
    };
    return {
      what: 'connect() on the local listener → first byte of the HTTP answer (GET / on the simulator HTTP backend), one connection at a time, the three listeners interleaved. Before each probe the warm pool is given time (up to 1 s, not measured) to refill, so its background handshakes overlap no measurement except the warm probe that triggered them',
      connections_each: connections,
      ...(roundTripMs === null ? {} : { round_trip_ms: roundTripMs }),
      full: variant('full'),
      resumed: variant('resumed'),
      warm: variant('warm'),
      ingress_handshakes: ingressHandshakes,
      ratio_resumed_p50_over_full_p50: ratioToFull(samples, 'resumed'),
      ratio_warm_p50_over_full_p50: ratioToFull(samples, 'warm'),
    };
  } finally {
    await Promise.all(VARIANT_NAMES.map((name) => forwarders[name].close()));
  }
}

/** (d): the same through a proxy that delays each direction, so the ingress is a round trip away. */
async function benchDelayedLatency(setup: Setup, connections?: number): Promise<Record<string, unknown>> {
  const [host, port] = setup.sim.info.ingressEndpoint.split(':') as [string, string];
  const proxy = await DelayProxy.start({ target: { host, port: Number(port) }, delayMs: ONE_WAY_DELAY_MS });
  try {
    return {
      ...(await benchLatency(setup, proxy.address, 2 * ONE_WAY_DELAY_MS, connections)),
      proxy: `TCP proxy between the dialer and the ingress delaying every chunk ${ONE_WAY_DELAY_MS} ms each way, in order, and the first client bytes by one more round trip (the TCP handshake); SNI ${setup.sim.info.ingressServerName}`,
    };
  } finally {
    await proxy.close();
  }
}

/**
 * (d) again against an ingress capped at TLS 1.2, where a resumed handshake is one round trip
 * shorter; TLS 1.3 takes one round trip either way, so there resumption only saves CPU.
 */
async function benchDelayedLatencyTls12(dir: string): Promise<Record<string, unknown>> {
  const sim = await RemoteSimulator.start({ ingressMaxVersion: 'TLSv1.2' });
  try {
    const setup = await prepare(sim, join(dir, 'tls12'));
    return {
      ingress_tls: 'TLSv1.2',
      ...(await benchDelayedLatency(setup, TLS12_LATENCY_CONNECTIONS)),
    };
  } finally {
    await sim.close();
  }
}

/**
 * (g) The request inspector's cost: the same endpoint through two listeners on one dialer setup,
 * inspector off and on (defaults: request lines, status and headers, no bodies), alternating.
 * Throughput of 64 MiB downloads and requests/s of 50 keep-alive clients (small GETs).
 */
async function benchInspector(setup: Setup): Promise<Record<string, unknown>> {
  const ingress = setup.sim.info.ingressEndpoint;
  const host = setup.address.hostname;
  const store = new RequestStore();
  const variants = {
    off: await new LocalForwarder(setup, ingress).listen(setup.address),
    on: await new LocalForwarder(setup, ingress).listen(setup.address, store),
  };
  const names = ['off', 'on'] as const;
  const mib = { off: [] as number[], on: [] as number[] };
  const rps = { off: [] as number[], on: [] as number[] };
  const cpuPerRequest = { off: [] as number[], on: [] as number[] };
  try {
    for (const name of names) {
      const socket = connect({ host: '127.0.0.1', port: variants[name].port, noDelay: true });
      await once(socket, 'connect');
      await download(socket, host, WARMUP_BYTES);
      await keepAliveRequests(variants[name].port, host, RPS_CLIENTS, 500);
    }
    for (let i = 0; i < INSPECTOR_RUNS; i++) {
      for (const name of i % 2 === 0 ? names : ([...names].reverse() as ('off' | 'on')[])) {
        const socket = connect({ host: '127.0.0.1', port: variants[name].port, noDelay: true });
        await once(socket, 'connect');
        const started = performance.now();
        const bytes = await download(socket, host, INSPECTOR_BYTES);
        mib[name].push(mibPerSecond(bytes, performance.now() - started));
        const cpu = processCpuMs();
        const done = await keepAliveRequests(variants[name].port, host, RPS_CLIENTS, RPS_SECONDS * 1000);
        rps[name].push(done.requests / (done.ms / 1000));
        cpuPerRequest[name].push(((processCpuMs() - cpu) * 1000) / done.requests);
        progress(
          `inspector ${name} run ${i + 1}: ${mib[name].at(-1)?.toFixed(0)} MiB/s, ${rps[name].at(-1)?.toFixed(0)} req/s`,
        );
      }
    }
    const throughputRatio = median(mib.on) / median(mib.off);
    const rpsRatio = median(rps.on) / median(rps.off);
    const micro = JSON.parse(
      (
        await execFileAsync(
          process.execPath,
          [fileURLToPath(new URL('./inspector-micro.ts', import.meta.url))],
          {
            maxBuffer: 1024 * 1024,
          },
        )
      ).stdout,
    ) as Record<string, unknown>;
    return {
      parser_alone: {
        what: 'the HTTP parser of the forwarder fed one keep-alive request and its 64-byte answer, in memory, without and with the recorder: the CPU the inspector itself adds per request, free of socket noise (test/bench/inspector-micro.ts)',
        ...micro,
      },
      what: `the same http endpoint through two EndpointListeners, inspector off and on (RequestStore defaults: no bodies), alternating ${INSPECTOR_RUNS} rounds: a ${INSPECTOR_BYTES / MiB} MiB download (GET /bytes/N) and ${RPS_SECONDS} s of ${RPS_CLIENTS} keep-alive clients sending GET /bytes/64 (node:http Agent, in this process). CPU is this process's (forwarder + clients) per request`,
      throughput_mib_s: {
        off: round(median(mib.off), 1),
        on: round(median(mib.on), 1),
        runs: { off: mib.off.map((v) => round(v, 0)), on: mib.on.map((v) => round(v, 0)) },
      },
      requests_per_s: {
        off: round(median(rps.off), 0),
        on: round(median(rps.on), 0),
        runs: { off: rps.off.map((v) => round(v, 0)), on: rps.on.map((v) => round(v, 0)) },
      },
      bench_cpu_us_per_request: {
        off: round(median(cpuPerRequest.off), 1),
        on: round(median(cpuPerRequest.on), 1),
      },
      records_kept: store.list({}).length,
      ratio_throughput_on_over_off: round(throughputRatio, 3),
      ratio_requests_on_over_off: round(rpsRatio, 3),
      target: `>= ${TARGETS.inspectorRatio} for both`,
      meets_target: throughputRatio >= TARGETS.inspectorRatio && rpsRatio >= TARGETS.inspectorRatio,
    };
  } finally {
    await Promise.all(names.map((name) => variants[name].close()));
  }
}

const execFileAsync = promisify(execFile);

/** (c) One child process per N, so each RSS is the engine's alone. */
/**
 * Each N three times, each in a fresh process: `restart` starts from a stored registration (the
 * daemon's everyday start), `restart_bundled` the same from one bundled file built like the shipped
 * CLI and daemon (main/electron/build.ts: no TypeScript to strip at load, what the targets are
 * checked on), `first_run` registers first (CSR, x509 library loaded) before reconciling.
 */
async function benchReconcile(sim: RemoteSimulator, stateDir: string): Promise<Record<string, unknown>> {
  const script = fileURLToPath(new URL('./reconcile.ts', import.meta.url));
  const bundled = join(PROJECT_ROOT, 'out', 'bench', 'reconcile.mjs');
  await bundleForNode(
    PROJECT_ROOT,
    fileURLToPath(new URL('./reconcile-bundle.ts', import.meta.url)),
    bundled,
  );
  const results: Record<string, unknown> = {};
  for (const n of RECONCILE_SIZES) {
    await sim.setEndpoints(benchEndpoints(n));
    const variants: Record<string, Record<string, unknown>> = {};
    for (const [variant, stored, entry] of [
      ['restart', stateDir, script],
      ['restart_bundled', stateDir, bundled],
      ['first_run', '', script],
    ] as const) {
      const requestsBefore = await sim.apiRequests();
      const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', entry, String(n)], {
        env: { ...process.env, [SIM_ENV]: JSON.stringify(sim.info), [STATE_ENV]: stored },
        maxBuffer: 1024 * 1024,
      });
      const result = JSON.parse(stdout) as ReconcileResult;
      const row: Record<string, unknown> = {
        ...result,
        start_ms: round(result.start_ms, 0),
        second_reconcile_ms: round(result.second_reconcile_ms, 0),
        rss_before_mb: round(result.rss_before_mb, 1),
        rss_after_mb: round(result.rss_after_mb, 1),
        rss_delta_mb: round(result.rss_delta_mb, 1),
        rss_peak_mb: round(result.rss_peak_mb, 1),
        api_requests: (await sim.apiRequests()) - requestsBefore,
      };
      if (n === 10_000 && variant === 'restart_bundled') {
        const fastEnough = result.start_ms < TARGETS.reconcile10kMs;
        const smallEnough = result.rss_peak_mb <= TARGETS.reconcile10kRssMb;
        row.target = `start < ${TARGETS.reconcile10kMs} ms, peak RSS <= ${TARGETS.reconcile10kRssMb} MB`;
        row.meets_time_target = fastEnough;
        row.meets_rss_target = smallEnough;
        row.meets_target = fastEnough && smallEnough;
      }
      variants[variant] = row;
      progress(
        `reconcile ${n} (${variant}): start ${result.start_ms.toFixed(0)} ms, peak RSS ${result.rss_peak_mb.toFixed(0)} MB`,
      );
    }
    results[String(n)] = variants;
  }
  // Back to the one endpoint the other sections use.
  await sim.setEndpoints([{ url: ENDPOINT_URL }]);
  return {
    what: 'a new Engine process in user mode, poll interval 1 h: engine.start() = (first_run only: registration with a new key and CSR) + discovery of every page (100 per page) + IPAM + N listeners + hosts file; then engine.reconcile() with nothing changed. One child process per N and variant; RSS from process.memoryUsage() (after gc) and peak from /proc/self/status VmHWM',
    endpoints_mix: '3/4 http://svc-i.bench (port 80), 1/4 tcp://db-i.bench:5432',
    ...results,
  };
}

/** Serve the bench endpoint and register as the engine would, for a client certificate. */
async function prepare(sim: RemoteSimulator, dir: string): Promise<Setup> {
  await sim.setEndpoints([{ url: ENDPOINT_URL }]);
  mkdirSync(dir, { recursive: true });
  const caFile = join(dir, 'ingress-ca.pem');
  writeFileSync(caFile, sim.info.ingressCaPem);
  const api = new NgrokApi({ baseUrl: sim.info.apiUrl, apiKey: sim.info.apiKey });
  const registration = new Registration({ api, store: new CredentialStore(join(dir, 'state')) });
  const operator = await registration.ensureRegistered({ description: 'ngrokd bench' });
  return {
    sim,
    credentials: { keyPem: operator.keyPem, certPem: operator.certPem },
    trust: loadIngressTrust({ ingressCA: caFile, trustDir: join(dir, 'no-trust-dir'), systemRoots: false }),
    address: parseEndpointUrl(ENDPOINT_URL),
  };
}

/** Issue 3's numbers: test/bench/privileged.ts needs root and runs in its own network namespace. */
function benchPrivileged(): unknown {
  if (process.getuid?.() !== 0)
    return { skipped: 'needs root (it creates an interface in a private network namespace)' };
  const script = fileURLToPath(new URL('./privileged.ts', import.meta.url));
  const out = execFileSync(
    'unshare',
    ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$1"', process.execPath, script],
    {
      encoding: 'utf8',
      timeout: 180_000,
    },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as unknown;
}

const SECTIONS = [
  'throughput',
  'latency',
  'latency-rtt',
  'reconcile',
  'inspector',
  'reference',
  'privileged',
  'renderer',
] as const;
/** Sections that need the simulator (the renderer's runs over a synthetic feed, privileged on its own). */
const SIMULATED: readonly Section[] = SECTIONS.filter((s) => s !== 'privileged' && s !== 'renderer');
type Section = (typeof SECTIONS)[number];

/** `node test/bench/run.ts [section...]` runs only those sections; none given runs all. */
function selectedSections(args: readonly string[]): Set<Section> {
  const unknown = args.filter((a) => !(SECTIONS as readonly string[]).includes(a));
  if (unknown.length > 0) {
    process.stderr.write(`unknown section ${unknown.join(', ')}; choose from ${SECTIONS.join(', ')}\n`);
    process.exit(2);
  }
  return new Set(args.length === 0 ? SECTIONS : (args as Section[]));
}

async function main(): Promise<void> {
  const sections = selectedSections(process.argv.slice(2));
  const started = performance.now();
  const simulated = SIMULATED.some((s) => sections.has(s));
  if (simulated) progress('starting the simulator');
  const sim = simulated ? await RemoteSimulator.start() : null;
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-bench-'));
  const report: Record<string, unknown> = {
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: process.platform,
    },
    topology:
      'simulator (API, mTLS ingress, HTTP backend) in a child process; forwarder (EndpointListener + BindingDialer) and the measuring client in the bench process; loopback only',
    load_average_at_start: loadavg().map((v) => round(v)),
  };
  try {
    if (sim !== null) await simulatedSections(sections, sim, dir, report);
    if (sections.has('privileged')) {
      progress('(e) netlink addresses and hosts section, as root in a private network namespace');
      report.privileged = benchPrivileged();
    }
    if (sections.has('renderer')) {
      progress('(f) the UI at 10,000 endpoints with live traffic, in headless Chromium');
      report.renderer_10k_live = await benchRenderer(progress);
    }
  } finally {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  report.load_average_at_end = loadavg().map((v) => round(v));
  report.total_runtime_s = round((performance.now() - started) / 1000, 1);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

/** (a)-(d): the forwarder and the engine against the simulator. */
async function simulatedSections(
  sections: Set<Section>,
  sim: RemoteSimulator,
  dir: string,
  report: Record<string, unknown>,
): Promise<void> {
  const setup = await prepare(sim, dir);
  if (sections.has('throughput')) {
    progress('(a) throughput');
    report.throughput = await benchThroughput(setup);
  }
  if (sections.has('latency')) {
    progress('(b) new-connection latency');
    report.new_connection_latency = await benchLatency(setup, sim.info.ingressEndpoint, null);
  }
  if (sections.has('latency-rtt')) {
    progress(`(d) new-connection latency, ${2 * ONE_WAY_DELAY_MS} ms round trip`);
    report.new_connection_latency_20ms_rtt = await benchDelayedLatency(setup);
    progress(`(d) again with the ingress capped at TLS 1.2, ${TLS12_LATENCY_CONNECTIONS} pairs`);
    report.new_connection_latency_20ms_rtt_tls12 = await benchDelayedLatencyTls12(dir);
  }
  if (sections.has('reconcile')) {
    progress('(c) reconcile');
    report.reconcile = await benchReconcile(sim, join(dir, 'state'));
  }
  if (sections.has('inspector')) {
    progress('(g) the request inspector, off vs on');
    report.inspector = await benchInspector(setup);
  }
  if (sections.has('reference')) {
    progress('(h) against the Go stdlib reference forwarder');
    report.reference = await benchReference(
      { sim, credentials: setup.credentials, hostname: setup.address.hostname, endpointUrl: ENDPOINT_URL },
      join(dir, 'reference'),
      progress,
    );
  }
}

await main();
