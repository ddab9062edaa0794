/**
 * Reconcile N endpoints in user mode with a fresh Engine and print one JSON line: the wall time of
 * engine.start() (registration, every discovery page, IPAM, N listeners, hosts file), a second
 * reconcile with nothing changed, and RSS. Runs in its own process so the memory numbers are the
 * engine's alone. `node test/bench/reconcile.ts N` forks its own simulator; run.ts passes one in
 * NGROKD_BENCH_SIM (JSON RemoteSimulatorInfo) after setting its N endpoints.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SimEndpointInput } from '../sim/api-server.ts';
import { userModeEngine, userModeSetup } from '../support/user-mode-engine.ts';
import { RemoteSimulator, type RemoteSimulatorInfo } from './remote-simulator.ts';

/** Loopback subnet of the engine under test; nothing else in the bench listens there. */
export const RECONCILE_SUBNET = '127.131.0.0/16';
export const SIM_ENV = 'NGROKD_BENCH_SIM';
/** A state dir with a stored registration: copied in, the engine starts like a daemon restart. */
export const STATE_ENV = 'NGROKD_BENCH_STATE';
const MB = 1024 * 1024;

export interface ReconcileResult {
  endpoints: number;
  listening: number;
  hosts_lines: number;
  start_ms: number;
  second_reconcile_ms: number;
  rss_before_mb: number;
  rss_after_mb: number;
  rss_delta_mb: number;
  /** The process's peak RSS (VmHWM) while starting and reconciling. */
  rss_peak_mb: number;
}

/** N endpoints as a cluster might have them: mostly HTTP on port 80, every fourth a TCP service. */
export function benchEndpoints(n: number): SimEndpointInput[] {
  return Array.from({ length: n }, (_, i) =>
    i % 4 === 3 ? { url: `tcp://db-${i}.bench:5432` } : { url: `http://svc-${i}.bench` },
  );
}

function rssMb(): number {
  return process.memoryUsage().rss / MB;
}

/**
 * This process's peak RSS: VmHWM (Linux; it starts afresh at exec), else getrusage's maxrss, which
 * on Linux carries over the parent's peak from the fork, so a big parent would hide a small child.
 */
function peakRssMb(): number {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1];
    if (kb !== undefined) return Number(kb) / 1024;
  } catch {
    // not Linux
  }
  return (process.resourceUsage().maxRSS * 1024) / MB;
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export async function measureReconcile(n: number, sim: RemoteSimulatorInfo): Promise<ReconcileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-bench-reconcile-'));
  try {
    const { config, hostsPath } = userModeSetup(dir, sim, {
      subnet: RECONCILE_SUBNET,
      hostsBefore: '127.0.0.1 localhost\n',
      // The engine is measured, not ngrok's rate limit: 10,000 endpoints are 100 pages, which the
      // default budget (60 a minute, 20 at once) would spread over 80 s against the real API.
      config: { api: { url: sim.apiUrl, key: sim.apiKey, requests_per_minute: 6000 } },
    });
    const stored = process.env[STATE_ENV];
    if (stored !== undefined && stored !== '') cpSync(stored, config.stateDir, { recursive: true });
    const engine = userModeEngine(config, hostsPath);
    collectGarbage();
    const rssBefore = rssMb();
    const started = performance.now();
    await engine.start();
    const startMs = performance.now() - started;
    const rssAfter = rssMb();
    const again = performance.now();
    await engine.reconcile();
    const secondMs = performance.now() - again;
    const rssPeak = peakRssMb();

    const views = engine.endpoints();
    const hostsLines = readFileSync(hostsPath, 'utf8')
      .split('\n')
      .filter((line) => /^127\.131\./.test(line)).length;
    await engine.stop();
    return {
      endpoints: views.length,
      listening: views.filter((v) => v.listening).length,
      hosts_lines: hostsLines,
      start_ms: startMs,
      second_reconcile_ms: secondMs,
      rss_before_mb: rssBefore,
      rss_after_mb: rssAfter,
      rss_delta_mb: rssAfter - rssBefore,
      rss_peak_mb: rssPeak,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  const n = Number(process.argv[2]);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write('usage: node test/bench/reconcile.ts N   (N = number of endpoints)\n');
    process.exit(2);
  }
  const given = process.env[SIM_ENV];
  const own = given === undefined ? await RemoteSimulator.start() : null;
  await own?.setEndpoints(benchEndpoints(n));
  const sim = own?.info ?? (JSON.parse(given as string) as RemoteSimulatorInfo);
  try {
    process.stdout.write(`${JSON.stringify(await measureReconcile(n, sim))}\n`);
  } finally {
    await own?.close();
  }
}

if (import.meta.main) await main();
