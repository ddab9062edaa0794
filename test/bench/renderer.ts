/**
 * (f) The UI at 10,000 endpoints with live traffic (issue 11): the built renderer in headless
 * Chromium, browser mode, served by the real UI server over a synthetic engine whose N endpoints'
 * counters (and the totals) change every second. Each N runs twice, side by side: the stream as it
 * was (`snapshots`: every push the whole state) and as it is (`deltas`: a versioned snapshot, then
 * what changed). For each: push bytes per second, long tasks (PerformanceObserver 'longtask') and
 * the longest gap between frames during the run, and filter keystrokes typed all along, each timed
 * from the input event's dispatch to: React's commit, the result laid out (layout forced right
 * after the commit: the keystroke's own work, which must fit in a 16 ms frame, and what the target
 * is checked on), the next animation frame (adds the wait for vsync), and painted.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Page } from 'playwright-core';
import type { EndpointView, StateSnapshot, StatusView } from '../../main/common/contract.ts';
import { ensureRendererBuilt } from '../../main/engine/ui-server/renderer-build.ts';
import { startUiServer } from '../../main/engine/ui-server/server.ts';
import { StateFeed, type FeedSubscriber, type Subscription } from '../../main/engine/state-feed.ts';
import { syntheticEndpoints } from '../support/synthetic-endpoints.ts';
import { median, percentile, round } from './measure.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ENDPOINTS = 10_000;
const CHANGING = [10, 100];
/** Seconds of live updates per run (NGROKD_BENCH_RENDERER_SECONDS shortens it while developing). */
const SECONDS = Number(process.env.NGROKD_BENCH_RENDERER_SECONDS ?? 30);
const TARGETS = { keystrokeP95Ms: 16, longTaskMs: 50 };
const QUERIES = ['s', 'sv', 'svc', 'svc-1', 'svc-12', 'svc-123', 'svc-1234', 'team-7', 'tcp team', ''];

/** A state like the engine's: every call builds new objects, as endpointViews() does. */
class SyntheticEngine {
  readonly #endpoints: EndpointView[];
  readonly #status: StatusView;
  #tick = 0;

  constructor(count: number) {
    this.#endpoints = syntheticEndpoints(count, {
      upgrade_ms_p50: 12,
      last_ok_at: '2026-01-01T00:00:00.000Z',
    });
    this.#status = {
      version: '0.1.0-bench',
      state: 'running',
      enabled: true,
      registered: true,
      operator_id: 'k8sop_bench',
      ingress_endpoint: 'kubernetes-binding-ingress.ngrok.io:443',
      mode: 'user',
      interface: { name: 'lo', kind: 'loopback', subnet: '127.150.0.0/16' },
      endpoint_count: count,
      hosts_path: null,
      cert_not_after: '2027-01-01T00:00:00.000Z',
      last_poll_at: '2026-01-01T00:00:00.000Z',
      last_error: null,
      errors: [],
      warnings: [],
      totals: { bytes_in: 0, bytes_out: 0, connections: 0 },
    };
  }

  /** Traffic on `n` endpoints (a different set each second). */
  traffic(n: number): void {
    this.#tick++;
    for (let k = 0; k < n; k++) {
      const e = this.#endpoints[(this.#tick * 7919 + k * 104_729) % this.#endpoints.length] as EndpointView;
      e.bytes_in += 1000 + k;
      e.bytes_out += 200;
      e.connections_total++;
      e.connections = k % 3;
      e.last_ok_at = new Date(1_767_225_600_000 + this.#tick * 1000).toISOString();
    }
  }

  snapshot(): StateSnapshot {
    const endpoints = this.#endpoints.map((e) => ({ ...e, ids: [...e.ids] }));
    let bytesIn = 0;
    let bytesOut = 0;
    let connections = 0;
    for (const e of endpoints) {
      bytesIn += e.bytes_in;
      bytesOut += e.bytes_out;
      connections += e.connections;
    }
    return {
      status: { ...this.#status, totals: { bytes_in: bytesIn, bytes_out: bytesOut, connections } },
      endpoints,
    };
  }
}

type Stream = 'snapshots' | 'deltas';

/** The engine's feed, counting what the UI's streams send; `snapshots` serves the stream as it was. */
class MeasuredFeed extends StateFeed {
  bytes = 0;
  events = 0;
  tickMs: number[] = [];
  readonly #stream: Stream;

  constructor(engine: SyntheticEngine, stream: Stream) {
    super({ snapshot: () => engine.snapshot() });
    this.#stream = stream;
  }

  override subscribe(subscriber: FeedSubscriber): Subscription {
    const deltas = this.#stream === 'deltas' && subscriber.deltas === true;
    return super.subscribe({
      ...subscriber,
      deltas,
      send: (event) => {
        // What the stream writes: the whole update for `stateUpdate` streams, the snapshot for `state`.
        this.bytes += subscriber.deltas === true ? event.updateJson.length : event.json.length;
        this.events++;
        subscriber.send(event);
      },
    });
  }

  override tick(): void {
    const start = performance.now();
    super.tick();
    this.tickMs.push(performance.now() - start);
  }
}

/** Installed before the page's scripts: long tasks and frame gaps from the start. */
const OBSERVE = `
  window.__bench = { longTasks: [], frameGaps: [], measuring: false };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (window.__bench.measuring) window.__bench.longTasks.push(e.duration);
  }).observe({ type: 'longtask', buffered: false });
  let last = 0;
  const frame = (t) => {
    if (window.__bench.measuring && last > 0) window.__bench.frameGaps.push(t - last);
    last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
`;

/** Type into the filter for `seconds`, one keystroke every ~200 ms, timing each. */
const TYPE = `async ([seconds, queries]) => {
  const input = document.querySelector('input[type=search]');
  const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  const list = () => document.querySelector('[role=list]');
  const results = [];
  const end = performance.now() + seconds * 1000;
  window.__bench.measuring = true;
  for (let i = 0; performance.now() < end; i++) {
    const query = queries[i % queries.length];
    const start = performance.now();
    setValue.call(input, query);
    input.dispatchEvent(new Event('input', { bubbles: true }));
    // React commits a discrete input's update before any later microtask.
    await Promise.resolve();
    const committed = performance.now();
    list()?.getBoundingClientRect(); // style and layout of what it committed
    const laidOut = performance.now();
    const frame = await new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now())));
    await new Promise((resolve) => setTimeout(resolve, 0));
    const painted = performance.now();
    results.push({
      query,
      committedMs: committed - start,
      laidOutMs: laidOut - start,
      frameMs: frame - start,
      paintedMs: painted - start,
    });
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 100));
  }
  window.__bench.measuring = false;
  return {
    keystrokes: results,
    longTasks: window.__bench.longTasks,
    frameGaps: window.__bench.frameGaps,
    longTaskSupported: PerformanceObserver.supportedEntryTypes.includes('longtask'),
  };
}`;

interface PageResult {
  keystrokes: { query: string; committedMs: number; laidOutMs: number; frameMs: number; paintedMs: number }[];
  longTasks: number[];
  frameGaps: number[];
  longTaskSupported: boolean;
}

function spread(values: number[]): { p50: number; p95: number; max: number } {
  return {
    p50: round(median(values), 1),
    p95: round(percentile(values, 95), 1),
    max: round(Math.max(...values), 1),
  };
}

async function run(
  page: Page,
  staticDir: string,
  changing: number,
  stream: Stream,
): Promise<Record<string, unknown>> {
  const engine = new SyntheticEngine(ENDPOINTS);
  const feed = new MeasuredFeed(engine, stream);
  const ui = await startUiServer({ handlers: benchHandlers(engine), feed, staticDir });
  const traffic = setInterval(() => engine.traffic(changing), 1000);
  try {
    await page.goto(ui.url);
    await page.locator('input[type=search]').waitFor({ timeout: 60_000 });
    await page.getByRole('listitem').first().waitFor({ timeout: 60_000 });
    await sleep(3000); // past the first snapshot and the JIT's first passes
    const bytesBefore = feed.bytes;
    const eventsBefore = feed.events;
    const ticksBefore = feed.tickMs.length;
    const started = performance.now();
    const result = (await page.evaluate(`(${TYPE})([${SECONDS}, ${JSON.stringify(QUERIES)}])`)) as PageResult;
    const seconds = (performance.now() - started) / 1000;
    const laidOut = result.keystrokes.map((k) => k.laidOutMs);
    const painted = result.keystrokes.map((k) => k.paintedMs);
    const longTasks = result.longTasks;
    const maxLongTask = longTasks.length === 0 ? 0 : Math.max(...longTasks);
    const p95 = percentile(laidOut, 95);
    const ticks = feed.tickMs.slice(ticksBefore);
    return {
      push_bytes_per_s: Math.round((feed.bytes - bytesBefore) / seconds),
      pushes: feed.events - eventsBefore,
      long_tasks_over_50ms: longTasks.filter((d) => d > TARGETS.longTaskMs).length,
      long_task_max_ms: round(maxLongTask, 0),
      longest_frame_gap_ms: round(Math.max(0, ...result.frameGaps), 0),
      keystrokes: laidOut.length,
      keystroke_committed_ms: spread(result.keystrokes.map((k) => k.committedMs)),
      keystroke_laid_out_ms: spread(laidOut),
      keystroke_next_frame_ms: spread(result.keystrokes.map((k) => k.frameMs)),
      keystroke_painted_ms: spread(painted),
      long_task_observer: result.longTaskSupported,
      feed_tick_ms: { p50: round(median(ticks), 1), max: round(Math.max(0, ...ticks), 1) },
      meets_keystroke_target: p95 < TARGETS.keystrokeP95Ms,
      meets_long_task_target: maxLongTask <= TARGETS.longTaskMs,
    };
  } finally {
    clearInterval(traffic);
    await ui.close();
  }
}

function benchHandlers(engine: SyntheticEngine): Parameters<typeof startUiServer>[0]['handlers'] {
  const status = (): StatusView => engine.snapshot().status;
  return {
    hello: () => ({ protocol: 1, version: '0.1.0-bench' }),
    status,
    getSettings: () => ({}),
  } as unknown as Parameters<typeof startUiServer>[0]['handlers'];
}

export async function benchRenderer(progress: (message: string) => void): Promise<Record<string, unknown>> {
  const staticDir = await ensureRendererBuilt(progress);
  const context = await chromium.launchPersistentContext('', {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    viewport: { width: 380, height: 560 },
  });
  const results: Record<string, unknown> = {};
  try {
    await context.addInitScript({ content: OBSERVE });
    for (const changing of CHANGING) {
      const pair: Record<string, unknown> = {};
      for (const stream of ['snapshots', 'deltas'] as const) {
        progress(`(f) ${ENDPOINTS} endpoints, ${changing} changing a second, ${stream}: ${SECONDS} s`);
        const page = await context.newPage();
        try {
          pair[stream] = await run(page, staticDir, changing, stream);
        } finally {
          await page.close();
        }
      }
      const before = pair.snapshots as { push_bytes_per_s: number };
      const after = pair.deltas as { push_bytes_per_s: number };
      pair.push_bytes_ratio = round(after.push_bytes_per_s / before.push_bytes_per_s, 4);
      results[`${changing}_changing_per_s`] = pair;
    }
  } finally {
    await context.close();
  }
  return {
    what: `${ENDPOINTS} endpoints in browser mode (the built renderer in headless Chromium, ${join('renderer', 'dist')}), served by the UI server over a synthetic engine whose snapshot builds new objects every tick; N endpoints' counters and the totals change every second; ${SECONDS} s of live updates per run while a filter keystroke is typed every 150-250 ms. snapshots = the stream as it was (every push the whole state), deltas = a versioned snapshot then deltas; run side by side, snapshots first`,
    targets: `keystroke → laid-out frame p95 < ${TARGETS.keystrokeP95Ms} ms; no long task > ${TARGETS.longTaskMs} ms; push bytes proportional to the endpoints that changed`,
    ...results,
  };
}
