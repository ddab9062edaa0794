/**
 * The reconciler: one pass at a time diffs the endpoints that should exist (discovery) against
 * those that do and converges idempotently: discovery → IPAM → addresses → listeners → hosts. A
 * request during a pass coalesces into one more pass; passes repeat every poll interval, sooner
 * with backoff after a failure; when the API is down whatever works keeps running. Besides, the
 * interface's subnet is checked against this machine's networks on every pass and every few seconds
 * (watchNetwork): a VPN or Docker network that comes to overlap it is a `network` problem.
 */
import { join } from 'node:path';
import { toUserFacing, type UserFacingError } from '../common/errors.ts';
import type { InterfaceSpec, PrivilegedOps } from '../common/privileged.ts';
import type { Logger } from './log.ts';
import { Ipam, MAPPINGS_FILE } from './ipam.ts';
import { NgrokApiError } from './api/api-errors.ts';
import { discoverEndpoints, type DesiredEndpoint } from './api/discovery.ts';
import { EndpointListener } from './forwarder/endpoint-listener.ts';
import type { IngressSession } from './ingress-session.ts';
import type { Problems } from './problems.ts';
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

interface ActiveEndpoint {
  desired: DesiredEndpoint;
  ip: string;
  listener: EndpointListener | null;
  listenPort: number;
  /** Why it is not listening, when it is not. */
  problem: UserFacingError | null;
}

/** What the engine wants right now, read at the start of every pass. */
export interface ReconcilePlan {
  enabled: boolean;
  /** Seconds between passes. */
  pollInterval: number;
  selectors: readonly string[];
}

export interface ReconcilerOptions {
  ops: PrivilegedOps;
  session: IngressSession;
  problems: Problems;
  logger: Logger;
  stateDir: string;
  plan(): ReconcilePlan;
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
  /** The interface whose subnet is watched (watchNetwork), its timer and the check running. */
  #network: InterfaceSpec | null = null;
  #networkTimer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | null = null;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
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
        await this.#pass();
      } while (this.#rerun && !this.#stopped);
    })().finally(() => {
      this.#running = null;
      this.#schedule();
    });
    return this.#running;
  }

  /** Forget past failures: the next poll waits the full interval (a new API key). */
  resetBackoff(): void {
    this.#failures = 0;
  }

  /** No poll until the next pass schedules one (turned off). */
  cancelPoll(): void {
    clearTimeout(this.#timer);
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
    if (this.#stopped || !plan.enabled || this.#o.session.api === null) return;
    const poll = plan.pollInterval * 1000;
    // After failures retry sooner than a long poll interval, backing off: 1 s, 2 s, 4 s … up to the interval.
    const delay = this.#failures === 0 ? poll : Math.min(poll, 1000 * 2 ** Math.min(this.#failures - 1, 8));
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
    if (!plan.enabled) return [];
    const { session, problems } = this.#o;
    const api = session.api;
    if (api === null) return null;
    try {
      const operator = await session.ensureOperator(plan.selectors);
      const discovery = await discoverEndpoints(api, operator.operatorId);
      this.#lastPollAt = new Date().toISOString();
      const problem = discovery.problems[0];
      if (problem !== undefined) problems.set('discovery', problem as UserFacingError);
      else problems.clear('discovery');
      problems.clear('api');
      this.#failures = 0;
      return discovery.endpoints;
    } catch (err) {
      this.#failures++;
      // The registration is gone: register again on the next pass.
      if (err instanceof NgrokApiError && err.status === 404) session.forgetOperator();
      problems.fail('api', err);
      this.#o.logger.warn({ err: toUserFacing(err) }, 'discovery failed; keeping current endpoints');
      return null;
    }
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
    for (const [key, { desired, ip }] of wanted) {
      const existing = this.#endpoints.get(key);
      if (existing !== undefined) {
        existing.desired = desired; // pooled ids may change without touching the listener
        if (existing.listener !== null) continue;
      }
      const entry: ActiveEndpoint = existing ?? {
        desired,
        ip,
        listener: null,
        listenPort: desired.address.port,
        problem: null,
      };
      this.#endpoints.set(key, entry);
      opening.push(entry);
    }
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
