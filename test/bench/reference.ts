/**
 * (h) This project's forwarder against a plain Go stdlib forwarder (test/bench/reference/,
 * upstream ngrokd's hot path: a fresh TCP + TLS dial and ConnRequest per connection, io.Copy both
 * ways), each in its own process so each one's CPU time is its own, side by side in one run:
 * throughput both ways with CPU per GiB, requests/s of 50 keep-alive clients, and new-connection
 * round trips at a 20 ms round trip to the ingress (sequential, bursts of 20, after a minute idle),
 * with how many ingress connections each opened beyond the local ones.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { ClientCredentials } from '../../main/engine/binding/trust.ts';
import { EARLY_PROBE_TIMEOUT_MS } from '../../main/engine/binding/early-data.ts';
import { DelayProxy } from './delay-proxy.ts';
import { FORWARDER_ENV, type ForwarderSetup } from './forwarder-process.ts';
import {
  download,
  firstByteMs,
  keepAliveRequests,
  median,
  mibPerSecond,
  MiB,
  percentile,
  round,
  upload,
} from './measure.ts';
import type { HandshakeCounts, RemoteSimulator } from './remote-simulator.ts';

const GiB = 1024 * MiB;
const BYTES = 256 * MiB;
const RUNS = 3;
const RPS_CLIENTS = 50;
const RPS_MS = 3000;
const ONE_WAY_MS = 10;
const SEQUENTIAL = 60;
const BURSTS = 6;
const BURST_SIZE = 20;
const IDLE_MS = 61_000;
const execFileAsync = promisify(execFile);

type Name = 'ours' | 'go';
const NAMES: readonly Name[] = ['ours', 'go'];

interface Forwarder {
  port: number;
  pid: number;
  child: ChildProcess;
}

/** CPU time (user + system) of process `pid` so far, ms (Linux /proc). */
function processCpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.split(' ') ?? [];
  // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function start(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Forwarder> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /LISTEN 127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before listening: ${out}`)));
  });
  return { port, pid: child.pid as number, child };
}

async function stop(f: Forwarder): Promise<void> {
  if (f.child.exitCode !== null) return;
  const exited = once(f.child, 'exit');
  f.child.kill('SIGTERM');
  await exited;
}

/** Build the Go reference with Debian's golang-go; null (with why) when there is no `go`. */
async function buildReference(dir: string): Promise<string | { skipped: string }> {
  mkdirSync(dir, { recursive: true });
  const source = fileURLToPath(new URL('./reference/forwarder.go', import.meta.url));
  const out = join(dir, 'reference-forwarder');
  try {
    await execFileAsync('go', ['build', '-o', out, source], {
      env: { ...process.env, GO111MODULE: 'off', GOCACHE: join(dir, 'gocache'), HOME: dir },
    });
  } catch (err) {
    return {
      skipped: `no Go reference: \`go build\` failed or go is missing (apt-get install golang-go): ${(err as Error).message.split('\n')[0]}`,
    };
  }
  return existsSync(out) ? out : { skipped: 'go build produced nothing' };
}

export interface ReferenceSetup {
  sim: RemoteSimulator;
  credentials: ClientCredentials;
  hostname: string;
  endpointUrl: string;
}

/** This project's forwarder in its own process (forwarder-process.ts). */
function startOurs(setup: ReferenceSetup, ingress: string): Promise<Forwarder> {
  const forwarderSetup: ForwarderSetup = {
    ingress,
    servername: setup.sim.info.ingressServerName,
    caPem: setup.sim.info.ingressCaPem,
    certPem: setup.credentials.certPem,
    keyPem: setup.credentials.keyPem,
    endpointUrl: setup.endpointUrl,
  };
  const script = fileURLToPath(new URL('./forwarder-process.ts', import.meta.url));
  return start(process.execPath, [script], {
    ...process.env,
    [FORWARDER_ENV]: JSON.stringify(forwarderSetup),
  });
}

async function pair(
  setup: ReferenceSetup,
  binary: string,
  dir: string,
  ingress: string,
): Promise<Record<Name, Forwarder>> {
  const { sim, credentials } = setup;
  mkdirSync(dir, { recursive: true });
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  writeFileSync(files.ca, sim.info.ingressCaPem);
  writeFileSync(files.cert, credentials.certPem);
  writeFileSync(files.key, credentials.keyPem, { mode: 0o600 });
  const ours = await startOurs(setup, ingress);
  const go = await start(
    binary,
    [
      '-ingress',
      ingress,
      '-servername',
      sim.info.ingressServerName,
      '-ca',
      files.ca,
      '-cert',
      files.cert,
      '-key',
      files.key,
      '-host',
      setup.hostname,
      '-port',
      '80',
    ],
    { ...process.env, GOMAXPROCS: '2' },
  );
  return { ours, go };
}

function ratio(a: number, b: number): number {
  return round(a / b, 3);
}

async function transfers(
  f: Record<Name, Forwarder>,
  host: string,
  progress: (m: string) => void,
): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  for (const direction of ['download', 'upload'] as const) {
    const mib: Record<Name, number[]> = { ours: [], go: [] };
    const cpu: Record<Name, number[]> = { ours: [], go: [] };
    const once1 = async (name: Name, bytes: number): Promise<void> => {
      const before = processCpuMsOf(f[name].pid);
      const started = performance.now();
      if (direction === 'download') {
        const socket = connect({ host: '127.0.0.1', port: f[name].port, noDelay: true });
        await once(socket, 'connect');
        await download(socket, host, bytes);
      } else {
        await upload(f[name].port, host, bytes);
      }
      mib[name].push(mibPerSecond(bytes, performance.now() - started));
      cpu[name].push(((processCpuMsOf(f[name].pid) - before) * GiB) / bytes);
    };
    for (const name of NAMES) await once1(name, 16 * MiB); // warm-up
    mib.ours = [];
    mib.go = [];
    cpu.ours = [];
    cpu.go = [];
    for (let i = 0; i < RUNS; i++)
      for (const name of i % 2 === 0 ? NAMES : [...NAMES].reverse()) {
        await once1(name, BYTES);
        progress(`reference ${direction} ${name} run ${i + 1}: ${mib[name].at(-1)?.toFixed(0)} MiB/s`);
      }
    result[direction] = {
      mib_s: { ours: round(median(mib.ours), 1), go: round(median(mib.go), 1) },
      forwarder_cpu_ms_per_gib: { ours: round(median(cpu.ours), 0), go: round(median(cpu.go), 0) },
      ratio_mib_s_ours_over_go: ratio(median(mib.ours), median(mib.go)),
      ratio_cpu_per_gib_ours_over_go: ratio(median(cpu.ours), median(cpu.go)),
      target: 'MiB/s >= 1.0x, CPU per GiB <= 1.5x the reference',
      meets_target: median(mib.ours) >= median(mib.go) && median(cpu.ours) <= 1.5 * median(cpu.go),
    };
  }
  return result;
}

async function requestsPerSecond(f: Record<Name, Forwarder>, host: string): Promise<Record<string, unknown>> {
  const rps: Record<Name, number[]> = { ours: [], go: [] };
  for (const name of NAMES) await keepAliveRequests(f[name].port, host, RPS_CLIENTS, 500);
  for (let i = 0; i < RUNS; i++)
    for (const name of i % 2 === 0 ? NAMES : [...NAMES].reverse()) {
      const r = await keepAliveRequests(f[name].port, host, RPS_CLIENTS, RPS_MS);
      rps[name].push(r.requests / (r.ms / 1000));
    }
  return {
    what: `${RPS_CLIENTS} keep-alive clients (node:http) sending GET /bytes/64 for ${RPS_MS / 1000} s, ${RUNS} rounds alternating; each client connection is one tunnel, so this is the steady state after the dials`,
    ours: round(median(rps.ours), 0),
    go: round(median(rps.go), 0),
    ratio_ours_over_go: ratio(median(rps.ours), median(rps.go)),
  };
}

function handshakes(after: HandshakeCounts, before: HandshakeCounts): number {
  return after.full - before.full + (after.resumed - before.resumed);
}

function trips(samples: number[], rtt: number): Record<string, number> {
  return {
    p50_round_trips: round(percentile(samples, 50) / rtt),
    p99_round_trips: round(percentile(samples, 99) / rtt),
    p50_ms: round(percentile(samples, 50), 1),
    p99_ms: round(percentile(samples, 99), 1),
  };
}

/** `count` bursts of BURST_SIZE connections at once, one a second: each one's first-byte ms. */
async function bursts(port: number, name: string, count = BURSTS): Promise<number[]> {
  const samples: number[] = [];
  for (let b = 0; b < count; b++) {
    const started = performance.now();
    samples.push(...(await Promise.all(Array.from({ length: BURST_SIZE }, () => firstByteMs(port, name)))));
    await sleep(Math.max(0, 1000 - (performance.now() - started)));
  }
  return samples;
}

/** New connections through a proxy that adds ONE_WAY_MS each way between forwarder and ingress. */
async function newConnections(
  setup: ReferenceSetup,
  binary: string,
  dir: string,
  progress: (m: string) => void,
): Promise<Record<string, unknown>> {
  const [host, port] = setup.sim.info.ingressEndpoint.split(':') as [string, string];
  const proxy = await DelayProxy.start({ target: { host, port: Number(port) }, delayMs: ONE_WAY_MS });
  const rtt = 2 * ONE_WAY_MS;
  const f = await pair(setup, binary, join(dir, 'delayed'), proxy.address);
  const name = setup.hostname;
  try {
    for (const n of NAMES) for (let i = 0; i < 5; i++) await firstByteMs(f[n].port, name);
    const out: Record<string, unknown> = { round_trip_ms: rtt };
    // Sequential: one at a time, 200 ms apart (a user clicking around).
    const seq: Record<Name, number[]> = { ours: [], go: [] };
    const seqConnections: Record<Name, number> = { ours: 0, go: 0 };
    for (const n of NAMES) {
      const before = await setup.sim.handshakes();
      const started = performance.now();
      for (let i = 0; i < SEQUENTIAL; i++) {
        seq[n].push(await firstByteMs(f[n].port, name));
        await sleep(200);
      }
      const minutes = (performance.now() - started) / 60_000;
      seqConnections[n] = round((handshakes(await setup.sim.handshakes(), before) - SEQUENTIAL) / minutes, 1);
      progress(`reference new connections sequential ${n}: p50 ${percentile(seq[n], 50).toFixed(1)} ms`);
    }
    out.sequential = {
      what: `${SEQUENTIAL} connections one at a time, 200 ms apart: connect -> first byte of the HTTP answer`,
      ours: trips(seq.ours, rtt),
      go: trips(seq.go, rtt),
      extra_ingress_connections_per_minute: seqConnections,
    };
    // Bursts: BURST_SIZE at once, every second; the first one (the pool learning the rate) apart.
    const first: Record<Name, number[]> = { ours: [], go: [] };
    const burst: Record<Name, number[]> = { ours: [], go: [] };
    const burstConnections: Record<Name, number> = { ours: 0, go: 0 };
    for (const n of NAMES) {
      const before = await setup.sim.handshakes();
      first[n] = await bursts(f[n].port, name, 1);
      burst[n] = await bursts(f[n].port, name, BURSTS);
      burstConnections[n] = handshakes(await setup.sim.handshakes(), before) - (BURSTS + 1) * BURST_SIZE;
    }
    out.bursts = {
      what: `after a first burst, ${BURSTS} bursts of ${BURST_SIZE} connections at once, one a second`,
      ours: trips(burst.ours, rtt),
      go: trips(burst.go, rtt),
      first_burst: { ours: trips(first.ours, rtt), go: trips(first.go, rtt) },
      extra_ingress_connections_in_all_bursts: burstConnections,
    };
    // Idle: both forwarders idle for a minute at the same time, then one connection each.
    progress(`reference: ${IDLE_MS / 1000} s idle`);
    const before = await setup.sim.handshakes();
    await sleep(IDLE_MS);
    const idleConnections = handshakes(await setup.sim.handshakes(), before);
    const idle: Record<Name, number> = { ours: 0, go: 0 };
    for (const n of NAMES) idle[n] = await firstByteMs(f[n].port, name);
    out.after_idle_minute = {
      what: `the first connection after ${IDLE_MS / 1000} s without any`,
      ours_round_trips: round(idle.ours / rtt),
      go_round_trips: round(idle.go / rtt),
      ingress_connections_opened_while_idle_both: idleConnections,
    };
    // The same against an ingress that drops early bytes: ours must find out and fall back.
    await setup.sim.setEarlyData('drop');
    const fallback = await startOurs(setup, proxy.address);
    try {
      const port = fallback.port;
      await firstByteMs(port, name); // the first http connection starts the probe
      await sleep(EARLY_PROBE_TIMEOUT_MS + 500); // which gets no answer
      for (let i = 0; i < 5; i++) await firstByteMs(port, name);
      const sequential: number[] = [];
      for (let i = 0; i < SEQUENTIAL; i++) {
        sequential.push(await firstByteMs(port, name));
        await sleep(200);
      }
      out.ours_with_an_ingress_that_drops_early_bytes = {
        what: 'a fresh forwarder of ours, the simulator dropping bytes sent before its ConnResponse: early data is found out by the probe and not used',
        sequential: trips(sequential, rtt),
        bursts: trips((await bursts(port, name, BURSTS + 1)).slice(BURST_SIZE), rtt),
      };
    } finally {
      await stop(fallback);
      await setup.sim.setEarlyData('keep');
    }
    return out;
  } finally {
    await Promise.all(NAMES.map((n) => stop(f[n])));
    await proxy.close();
  }
}

export async function benchReference(
  setup: ReferenceSetup,
  dir: string,
  progress: (m: string) => void,
): Promise<Record<string, unknown>> {
  const binary = await buildReference(dir);
  if (typeof binary !== 'string') return binary;
  const f = await pair(setup, binary, join(dir, 'direct'), setup.sim.info.ingressEndpoint).catch(
    async (err: unknown) => {
      throw err;
    },
  );
  const result: Record<string, unknown> = {
    what: 'this project (test/bench/forwarder-process.ts: BindingDialer defaults + EndpointListener, its own Node process) against the Go stdlib reference (test/bench/reference/forwarder.go, built with Debian golang-go, GOMAXPROCS=2), both to the simulator ingress; forwarder CPU from /proc/<pid>/stat of each process',
  };
  try {
    result.transfer = await transfers(f, setup.hostname, progress);
    result.requests_per_s = await requestsPerSecond(f, setup.hostname);
  } finally {
    await Promise.all(NAMES.map((n) => stop(f[n])));
  }
  result.new_connections_20ms_rtt = await newConnections(setup, binary, dir, progress);
  return result;
}
