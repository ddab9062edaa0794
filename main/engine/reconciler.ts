/**
 * The reconciler: one pass at a time diffs the endpoints that should exist (discovery) against
 * those that do and converges idempotently: discovery → IPAM → addresses → listeners → hosts. A
 * request during a pass coalesces into one more pass; passes repeat every poll interval, sooner
 * with backoff after a failure; when the API is down whatever works keeps running. Besides, the
 * interface's subnet is checked against this machine's networks on every pass and every few seconds
 * (watchNetwork): a VPN or Docker network that comes to overlap it is a `network` problem.
 *
 * What the API client reports becomes problems as it happens: the first failed attempt of any
 * request (a timeout, a 5xx, a 429) is the current `api` problem while the client retries, and the
 * first answer clears it. After every pass the certificate's renewal state is the `certificate`
 * problem (a warning, an error near expiry) and polls held back by the API budget the `budget`
 * warning. When the next poll comes is `nextPollDelay`: the interval ±10 % (so daemons sharing an
 * account drift apart), a backoff after failures, never sooner than ngrok's `Retry-After`, and
 * sooner when the certificate's renewal is due before it.
 */
import { join } from 'node:path';
import { toUserFacing, type UserFacingError } from '../common/errors.ts';
import type { InterfaceSpec, PrivilegedOps } from '../common/privileged.ts';
import type { Logger } from './log.ts';
import { Ipam, MAPPINGS_FILE } from './ipam.ts';
import { NgrokApiError } from './api/api-errors.ts';
import type { Random } from './api/backoff.ts';
import type { BudgetStats } from './api/budget.ts';
import type { NgrokApi } from './api/ngrok-api.ts';
import { discoverEndpoints, type DesiredEndpoint } from './api/discovery.ts';
import { EndpointListener, type ForwarderMetrics } from './forwarder/endpoint-listener.ts';
import type { EndpointCounters } from './forwarder/counters.ts';
import type { RequestStore } from './inspector/store.ts';
import type { IngressSession } from './ingress-session.ts';
import type { ProblemSource, Problems, Severity } from './problems.ts';
import type { EndpointFacts } from './status-view.ts';

/**
 * Listeners opened at a time. Thousands in flight at once keep every one's transient listen state
 * alive past young-generation collections, which roughly doubles the heap a big start peaks at.
 */
const LISTEN_CONCURRENCY = 256;

/**
 * How often the subnet is checked between passes. A poll, not rtnetlink route events: one check is
 * two small dumps (cheap even with 10,000 addresses), needs no socket kept open in the helper, and
 * cannot miss an event the way an overflowing multicast socket does.
 */
export const NETWORK_CHECK_INTERVAL_MS = 5_000;

/** Polls come at the interval ±10 %, so daemons started together drift apart. */
export const POLL_JITTER = 0.1;
/** The first retry after a failure; it doubles with every failure in a row, up to 2^8 times this. */
const FAILURE_BACKOFF_MS = 1000;
/** A renewal that is due is polled for at most this often. */
const MIN_RENEWAL_POLL_MS = 1000;

/** What the next poll's timing needs to know of the last failure. */
export interface PollFailure {
  /** ngrok said too many requests (429 / ERR_NGROK_225 / ERR_NGROK_226). */
  throttled: boolean;
  /** ngrok's `Retry-After`, when it sent one. */
  retryAfterMs: number | undefined;
}

/**
 * Milliseconds until the next poll. Without failures: the interval ±10 %. After `failures` in a row
 * the backoff is 1 s, 2 s, 4 s … (at most 256 s), also ±10 %: sooner than a long interval for an
 * outage, but never sooner than the interval for a throttled one (then it only grows). Never sooner
 * than ngrok's `Retry-After`; sooner than all that when the certificate's renewal is due first.
 */
export function nextPollDelay(input: {
  pollMs: number;
  failures: number;
  failure: PollFailure | null;
  /** Until the certificate may be renewed (null: no certificate). */
  renewalInMs: number | null;
  random: Random;
}): number {
  const { pollMs, failures, failure } = input;
  const backoff = FAILURE_BACKOFF_MS * 2 ** Math.min(Math.max(failures - 1, 0), 8);
  const base =
    failures === 0
      ? pollMs
      : failure?.throttled === true
        ? Math.max(pollMs, backoff)
        : Math.min(pollMs, backoff);
  let delay = base * (1 - POLL_JITTER + 2 * POLL_JITTER * input.random());
  if (input.renewalInMs !== null) delay = Math.min(delay, Math.max(input.renewalInMs, MIN_RENEWAL_POLL_MS));
  if (failure?.retryAfterMs !== undefined) delay = Math.max(delay, failure.retryAfterMs);
  return Math.round(delay);
}

/**
 * The `budget` warning for a pass that made `requests` requests, `waitedMs` of them waiting for the
 * budget, `pollSeconds` apart; null when polls are not held back by it. Waiting alone is not
 * enough (a big first discovery waits once): the polls must ask for more than the budget's rate.
 */
export function budgetWarning(pass: {
  requests: number;
  waitedMs: number;
  pollSeconds: number;
  perMinute: number;
}): UserFacingError | null {
  const { requests, perMinute } = pass;
  const demand = (requests * 60) / pass.pollSeconds;
  if (pass.waitedMs <= 0 || demand <= perMinute) return null;
  const enough = Math.ceil((requests * 60) / perMinute);
  return {
    code: 'API_THROTTLED',
    message: `ngrok API requests are being held back to stay under ngrok's rate limit: each poll makes ${requests} request${requests === 1 ? '' : 's'}, every ${pass.pollSeconds} s that is ${Math.round(demand)} a minute, over this daemon's budget of ${perMinute} a minute (ngrok allows 120 for the whole account), so polls come less often than bound_endpoints.poll_interval says`,
    fix: `Raise bound_endpoints.poll_interval to at least ${enough} s (or narrow bound_endpoints.selectors so fewer endpoints match).`,
  };
}

interface ActiveEndpoint {
  desired: DesiredEndpoint;
  ip: string;
  listener: EndpointListener | null;
  listenPort: number;
  /** Why it is not listening, when it is not. */
  problem: UserFacingError | null;
  /** Turned off by the user (`ngrokd disable HOST`): no listener, no hosts line, its IP kept. */
  disabled: boolean;
}

/** What the engine wants right now, read at the start of every pass. */
export interface ReconcilePlan {
  enabled: boolean;
  /** Seconds between passes. */
  pollInterval: number;
  selectors: readonly string[];
  /** Hostnames turned off one by one (endpoint-prefs.ts). */
  disabled: ReadonlySet<string>;
}

export interface ReconcilerOptions {
  ops: PrivilegedOps;
  session: IngressSession;
  problems: Problems;
  logger: Logger;
  stateDir: string;
  plan(): ReconcilePlan;
  /** `connections.idle_timeout` for an endpoint's hostname, ms (0: none); default none. */
  idleTimeoutMs?: (hostname: string) => number;
  /** The request inspector's store, given to the listeners of http endpoints; none by default. */
  inspector?: RequestStore | null;
  /** Given to every listener (upgrade latencies); none by default. */
  metrics?: ForwarderMetrics | null;
  /** Told how long each pass took, ms (the metrics' reconcile histogram). */
  onPass?: (ms: number) => void;
  /** Poll jitter; default Math.random. */
  random?: Random;
  /** The clock of poll times and problems; default Date.now. */
  now?: () => number;
}

function sameEntries(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  /** `ip:port` → the endpoint served there. */
  readonly #endpoints = new Map<string, ActiveEndpoint>();
  #ipam: Ipam | null = null;
  /** hostname → IP as last written to the hosts section. */
  #lastHosts: ReadonlyMap<string, string> = new Map();
  #lastPollAt: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #rerun = false;
  #stopped = false;
  #failures = 0;
  /** Why the last pass failed, when it did. */
  #lastFailure: PollFailure | null = null;
  /** The delay of the poll scheduled last, null when none is. */
  #nextPollMs: number | null = null;
  readonly #random: Random;
  readonly #now: () => number;
  /** The interface whose subnet is watched (watchNetwork), its timer and the check running. */
  #network: InterfaceSpec | null = null;
  #networkTimer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | null = null;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    // A failed attempt is the current problem now, while the client retries; any answer clears it.
    // Failures that are answers (a 404, a bad key) are the pass's to report.
    options.session.observeApi({
      attemptFailed: (failure) => {
        if (failure.retryClass !== 'none') options.problems.fail('api', failure);
      },
      succeeded: () => options.problems.clear('api'),
    });
  }

  /** In how many ms the next poll comes (as scheduled after the last pass), null when none is scheduled. */
  get nextPollInMs(): number | null {
    return this.#nextPollMs;
  }

  /** When discovery last succeeded. */
  get lastPollAt(): string | null {
    return this.#lastPollAt;
  }

  /** Open (or reopen) the address mappings for `subnet`; a pass needs them. */
  async openIpam(subnet: string): Promise<void> {
    this.#ipam = await Ipam.open({ subnet, path: join(this.#o.stateDir, MAPPINGS_FILE) });
    for (const warning of this.#ipam.report.warnings)
      this.#o.logger.warn({ warning }, 'ip_mappings.json entry dropped');
  }

  /** Run a pass now (coalescing with one already running), then reschedule polling. */
  async reconcile(): Promise<void> {
    if (this.#running !== null) {
      this.#rerun = true;
      return this.#running;
    }
    clearTimeout(this.#timer);
    this.#running = (async () => {
      do {
        this.#rerun = false;
        const started = performance.now();
        await this.#pass();
        this.#o.onPass?.(performance.now() - started);
      } while (this.#rerun && !this.#stopped);
    })().finally(() => {
      this.#running = null;
      this.#schedule();
    });
    return this.#running;
  }

  /**
   * Apply the per-endpoint switches now, without asking the API: listeners of endpoints turned off
   * close and their hosts lines go; those turned on listen again on their kept address.
   */
  async applySwitches(): Promise<void> {
    if (this.#running !== null) {
      // The pass under way reads the plan again.
      this.#rerun = true;
      return this.#running;
    }
    const known = new Map([...this.#endpoints].map(([key, e]) => [key, { desired: e.desired, ip: e.ip }]));
    this.#running = (async () => {
      await this.#openListeners(known);
      await this.#writeHosts();
    })().finally(() => {
      this.#running = null;
      if (this.#rerun && !this.#stopped) void this.reconcile();
    });
    return this.#running;
  }

  /** Forget past failures: the next poll waits the full interval (a new API key). */
  resetBackoff(): void {
    this.#failures = 0;
    this.#lastFailure = null;
  }

  /** No poll until the next pass schedules one (turned off). */
  cancelPoll(): void {
    clearTimeout(this.#timer);
    this.#nextPollMs = null;
  }

  /**
   * Check `spec`'s subnet against this machine's addresses and routes on every pass and every
   * `intervalMs`; what overlaps is the `network` problem until it is gone. ngrokd keeps serving
   * meanwhile (the problem says whose traffic it now receives and how to move).
   */
  watchNetwork(spec: InterfaceSpec, intervalMs = NETWORK_CHECK_INTERVAL_MS): void {
    this.#network = { name: spec.name, subnet: spec.subnet };
    clearInterval(this.#networkTimer);
    this.#networkTimer = setInterval(() => void this.checkNetwork(), intervalMs);
    this.#networkTimer.unref?.();
  }

  /** One check now (joining one that runs); sets or clears the `network` problem. */
  checkNetwork(): Promise<void> {
    const spec = this.#network;
    if (spec === null || this.#stopped) return Promise.resolve();
    this.#checking ??= this.#checkNetwork(spec).finally(() => {
      this.#checking = null;
    });
    return this.#checking;
  }

  async #checkNetwork(spec: InterfaceSpec): Promise<void> {
    const { problems, logger } = this.#o;
    let conflict: UserFacingError | null;
    try {
      conflict = await this.#o.ops.checkNetwork(spec);
    } catch (err) {
      // Not knowing is not a conflict: keep what was last seen (the helper may be reconnecting).
      logger.debug({ err: toUserFacing(err) }, 'subnet check failed');
      return;
    }
    const current = problems.get('network');
    if (conflict === null) {
      if (current !== undefined) logger.info({ subnet: spec.subnet }, 'subnet conflict gone');
      problems.clear('network');
    } else if (current?.message !== conflict.message || current.fix !== conflict.fix) {
      // Replaced only when it changed, so its time says when it began and the state feed stays quiet.
      problems.set('network', conflict);
      logger.warn({ err: conflict }, 'subnet conflict');
    }
  }

  /** Stop polling, let a running pass finish and close every listener. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#networkTimer);
    await this.#checking?.catch(() => undefined);
    await this.#running?.catch(() => undefined);
    await Promise.all([...this.#endpoints.values()].map((e) => e.listener?.close()));
    this.#endpoints.clear();
  }

  /** Every endpoint as the status view needs it. */
  *endpoints(): Iterable<EndpointFacts> {
    for (const e of this.#endpoints.values())
      yield {
        desired: e.desired,
        ip: e.ip,
        listenPort: e.listenPort,
        counters: e.listener?.counters.snapshot() ?? null,
        problem: e.problem,
        enabled: !e.disabled,
      };
  }

  /** Every endpoint's hostname with its live counters, for metrics (read when scraped). */
  *liveCounters(): Iterable<{
    hostname: string;
    counters: EndpointCounters | null;
    listening: boolean;
    enabled: boolean;
  }> {
    for (const e of this.#endpoints.values())
      yield {
        hostname: e.desired.address.hostname,
        counters: e.listener?.counters ?? null,
        listening: e.listener !== null,
        enabled: !e.disabled,
      };
  }

  /** When a connection last got through the ingress on any endpoint (0: never). */
  lastUpgradeAt(): number {
    let last = 0;
    for (const e of this.#endpoints.values()) last = Math.max(last, e.listener?.counters.lastUpgradeAt ?? 0);
    return last;
  }

  #schedule(): void {
    const plan = this.#o.plan();
    this.#nextPollMs = null;
    if (this.#stopped || !plan.enabled || this.#o.session.api === null) return;
    const renewalAt = this.#o.session.nextRenewalAt();
    const delay = nextPollDelay({
      pollMs: plan.pollInterval * 1000,
      failures: this.#failures,
      failure: this.#lastFailure,
      renewalInMs: renewalAt === null ? null : renewalAt - this.#now(),
      random: this.#random,
    });
    this.#nextPollMs = delay;
    this.#timer = setTimeout(() => void this.reconcile(), delay);
    this.#timer.unref?.();
  }

  /** The one pass: the subnet check, then discovery → IPAM → addresses → listeners → hosts. */
  async #pass(): Promise<void> {
    await this.checkNetwork();
    const desired = await this.#discover();
    if (desired === null) return; // API trouble: keep what works running.
    const ips = await this.#assignAddresses(desired);
    if (ips === null) return;
    const wanted = new Map<string, { desired: DesiredEndpoint; ip: string }>();
    for (const d of desired) {
      const ip = ips.get(d.address.hostname) as string;
      const key = `${ip}:${d.address.port}`;
      if (wanted.has(key)) continue; // Same host and port under two schemes: the first (sorted) wins.
      wanted.set(key, { desired: d, ip });
    }
    // What should no longer exist loses its listener first; its address goes with the next
    // setAddresses and its hosts line with the hosts write at the end of the pass.
    const removals: Promise<void>[] = [];
    for (const [key, active] of this.#endpoints) {
      const next = wanted.get(key);
      if (next !== undefined && next.desired.url === active.desired.url) continue;
      this.#endpoints.delete(key);
      if (active.listener !== null) removals.push(active.listener.close());
    }
    await Promise.all(removals);
    // Then the addresses of everything wanted, its listeners, and last the hosts section, so a
    // name resolves only once something listens on its address.
    try {
      await this.#o.ops.setAddresses([...new Set(ips.values())]);
      this.#o.problems.clear('interface');
    } catch (err) {
      this.#o.problems.fail('interface', err);
    }
    await this.#openListeners(wanted);
    await this.#writeHosts();
  }

  /** The endpoints that should exist now, or null when they cannot be known (keep the current set). */
  async #discover(): Promise<DesiredEndpoint[] | null> {
    const plan = this.#o.plan();
    const { session, problems } = this.#o;
    if (!plan.enabled) {
      problems.clear('budget');
      return [];
    }
    const api = session.api;
    if (api === null) return null;
    const before = api.budget.stats();
    try {
      const operator = await session.ensureOperator(plan.selectors);
      const discovery = await discoverEndpoints(api, operator.operatorId);
      this.#lastPollAt = new Date(this.#now()).toISOString();
      const problem = discovery.problems[0];
      if (problem !== undefined) problems.set('discovery', problem as UserFacingError);
      else problems.clear('discovery');
      problems.clear('api');
      this.#failures = 0;
      this.#lastFailure = null;
      return discovery.endpoints;
    } catch (err) {
      this.#failures++;
      this.#lastFailure = {
        throttled: err instanceof NgrokApiError && err.retryClass === 'throttled',
        retryAfterMs: err instanceof NgrokApiError ? err.retryAfterMs : undefined,
      };
      // The registration is gone: register again on the next pass.
      if (err instanceof NgrokApiError && err.status === 404) session.forgetOperator();
      problems.fail('api', err);
      this.#o.logger.warn({ err: toUserFacing(err) }, 'discovery failed; keeping current endpoints');
      return null;
    } finally {
      const renewal = session.renewalProblem();
      if (renewal === null) problems.clear('certificate');
      else this.#setProblem('certificate', renewal.problem, renewal.severity);
      this.#noteBudget(api, before, plan.pollInterval);
    }
  }

  /** The `budget` warning after a pass that began with the budget at `before`. */
  #noteBudget(api: NgrokApi, before: BudgetStats, pollSeconds: number): void {
    const after = api.budget.stats();
    const warning = budgetWarning({
      requests: after.taken - before.taken,
      waitedMs: after.waitedMs - before.waitedMs,
      pollSeconds,
      perMinute: api.budget.policy.perMinute,
    });
    if (warning === null) this.#o.problems.clear('budget');
    else this.#setProblem('budget', { ...warning, at: new Date(this.#now()).toISOString() }, 'warning');
  }

  /** Replaced only when it changed, so its time says when it began and the state feed stays quiet. */
  #setProblem(source: ProblemSource, problem: UserFacingError, severity: Severity): void {
    const { problems } = this.#o;
    const current = problems.get(source);
    if (
      current?.message === problem.message &&
      current.fix === problem.fix &&
      problems.severity(source) === severity
    )
      return;
    problems.set(source, problem, severity);
  }

  /** hostname → IP for every desired endpoint (kept across passes, saved), or null when IPAM failed. */
  async #assignAddresses(desired: readonly DesiredEndpoint[]): Promise<Map<string, string> | null> {
    const ipam = this.#ipam as Ipam;
    try {
      const ips = ipam.assign(desired.map((d) => d.address.hostname));
      await ipam.save();
      this.#o.problems.clear('ipam');
      return ips;
    } catch (err) {
      this.#o.problems.fail('ipam', err);
      return null;
    }
  }

  async #openListeners(wanted: Map<string, { desired: DesiredEndpoint; ip: string }>): Promise<void> {
    const opening: ActiveEndpoint[] = [];
    const closing: Promise<void>[] = [];
    const disabled = this.#o.plan().disabled;
    for (const [key, { desired, ip }] of wanted) {
      const off = disabled.has(desired.address.hostname);
      const existing = this.#endpoints.get(key);
      if (existing !== undefined) {
        existing.desired = desired; // pooled ids may change without touching the listener
        existing.disabled = off;
        if (off) {
          if (existing.listener !== null) closing.push(existing.listener.close());
          existing.listener = null;
          existing.problem = null;
          continue;
        }
        if (existing.listener !== null) continue;
      }
      const entry: ActiveEndpoint = existing ?? {
        desired,
        ip,
        listener: null,
        listenPort: desired.address.port,
        problem: null,
        disabled: off,
      };
      this.#endpoints.set(key, entry);
      if (!off) opening.push(entry);
    }
    await Promise.all(closing);
    // Workers share one iterator, so at most LISTEN_CONCURRENCY listens are in flight.
    const queue = opening.values();
    const worker = async (): Promise<void> => {
      for (const entry of queue) await this.#openListener(entry);
    };
    await Promise.all(Array.from({ length: Math.min(LISTEN_CONCURRENCY, opening.length) }, worker));
  }

  async #openListener(entry: ActiveEndpoint): Promise<void> {
    const dialer = this.#o.session.dialer;
    if (dialer === null) return;
    try {
      const socket = await this.#o.ops.listen(entry.ip, entry.desired.address.port);
      entry.listenPort = socket.port;
      entry.listener = new EndpointListener({
        socket,
        address: entry.desired.address,
        dialer,
        logger: this.#o.logger,
        idleTimeoutMs: this.#o.idleTimeoutMs?.(entry.desired.address.hostname) ?? 0,
        inspector: this.#o.inspector ?? null,
        metrics: this.#o.metrics ?? null,
      });
      entry.problem = null;
    } catch (err) {
      entry.problem = toUserFacing(err, 'LISTEN_FAILED');
      this.#o.logger.warn({ err: entry.problem, url: entry.desired.url }, 'cannot listen');
    }
  }

  /** Written only when it changed (or the last write failed). */
  async #writeHosts(): Promise<void> {
    const hosts = new Map<string, string>();
    for (const e of this.#endpoints.values())
      if (e.listener !== null) hosts.set(e.desired.address.hostname, e.ip);
    if (sameEntries(hosts, this.#lastHosts) && !this.#o.problems.has('hosts')) return;
    try {
      await this.#o.ops.setHosts(Array.from(hosts, ([hostname, ip]) => ({ ip, hostname })));
      this.#lastHosts = hosts;
      this.#o.problems.clear('hosts');
    } catch (err) {
      this.#o.problems.fail('hosts', err);
    }
  }
}
