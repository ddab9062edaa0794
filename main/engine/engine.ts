/**
 * The engine: ngrok API → discovery → IPAM → privileged ops (interface, addresses, hosts) →
 * listeners → forwarder → counters → status. This file is its lifecycle (start, stop) and its
 * command handlers; the rooms it wires together each have their own file:
 *  - ingress-session.ts: API key, registration (the operator), ingress trust and the dialer;
 *  - reconciler.ts: the one reconcile pass (discovery → IPAM → addresses → listeners → hosts),
 *    coalescing and polling with backoff;
 *  - status-view.ts: status, endpoint views and the engine's state, as pure functions;
 *  - state-feed.ts: the one feed of state snapshots every bridge subscribes to.
 */
import { join } from 'node:path';
import type {
  CommandHandlers,
  DoctorReport,
  EndpointView,
  RequestDetail,
  RequestRecord,
  Settings,
  SettingsPatch,
  StateSnapshot,
  StatusView,
  SubnetChoice,
} from '../common/contract.ts';
import { SUBNET_CANDIDATES } from '../common/defaults.ts';
import { CONTROL_PROTOCOL_VERSION } from '../common/contract.ts';
import { NgrokdError, toUserFacing, type UserFacingError } from '../common/errors.ts';
import type { InterfaceInfo, PrivilegedOps } from '../common/privileged.ts';
import { idleTimeoutMs, type ResolvedConfig } from './config.ts';
import type { Logger } from './log.ts';
import { createNetworkPathProbe, type NetworkPathProbe } from '../system/network-path.ts';
import { IngressSession } from './ingress-session.ts';
import { PathMonitor, type PathChange } from './path-monitor.ts';
import { chooseSubnet, MAPPINGS_FILE } from './ipam.ts';
import { Problems } from './problems.ts';
import { Reconciler } from './reconciler.ts';
import { replay } from './inspector/replay.ts';
import { EndpointPrefs } from './endpoint-prefs.ts';
import { parseEndpointUrl } from '../common/endpoint-url.ts';
import { RequestStore } from './inspector/store.ts';
import { runDoctor, type DoctorContext } from './doctor.ts';
import type { EngineMetrics } from './metrics.ts';
import { HostsSection } from '../system/hosts-file.ts';
import { interfaceUp, localByRoute } from '../system/interface-state.ts';
import { listeningSockets } from '../system/listening-sockets.ts';
import { runCommand } from '../system/run-command.ts';
import { contains, parseCidr, parseIpv4 } from '../common/subnet.ts';
import { networkInterfaces } from 'node:os';
import { StateFeed } from './state-feed.ts';
import { endpointViews, statusView } from './status-view.ts';
import { VERSION } from './version.ts';

export { VERSION };

export interface EngineOptions {
  config: ResolvedConfig;
  ops: PrivilegedOps;
  logger: Logger;
  /** Why privileged operations are degraded (e.g. the helper is missing), shown in status. */
  privilegeProblem?: UserFacingError | null;
  /** How often the subnet is checked for conflicts between passes (tests); see reconciler.ts. */
  networkCheckIntervalMs?: number;
  /** Watch for sleep/wake and network changes (path-monitor.ts); default true. */
  watchPath?: boolean;
}

/**
 * The route to this address stands for "the way out" until the ingress's own address is known
 * (TEST-NET-1: never a real host, always routed by the default route).
 */
const PATH_PROBE_DESTINATION = '192.0.2.1';

function apiKeyMissing(): NgrokdError {
  return new NgrokdError(
    'API_KEY_MISSING',
    'no ngrok API key: api.key is not set in the config and NGROK_API_KEY is empty',
    'Create an API key at https://dashboard.ngrok.com/api-keys and set NGROK_API_KEY (or api.key).',
  );
}

export class Engine {
  readonly config: ResolvedConfig;
  readonly ops: PrivilegedOps;
  readonly handlers: CommandHandlers;
  /** State snapshots for every bridge: the control socket, the browser UI, a desktop shell. */
  readonly feed: StateFeed;
  readonly #log: Logger;
  readonly #problems = new Problems();
  readonly #session: IngressSession;
  readonly #reconciler: Reconciler;
  /** Endpoints turned off or pinned by the user, kept in the state directory. */
  readonly #prefs: EndpointPrefs;
  /** The request inspector's memory (null when `inspect.enabled` is false). */
  readonly inspector: RequestStore | null;
  /**
   * Prometheus metrics (null unless `server.metrics_address` is set), made and served by start()
   * until stop(); prom-client is only loaded then (most daemons never serve metrics).
   */
  metrics: EngineMetrics | null = null;
  /** Where the metrics are served, once start() bound them. */
  metricsAddress: { host: string; port: number } | null = null;
  #enabled = true;
  #pollInterval: number;
  #selectors: string[];
  /** Subnet and interface name as last set; they apply on the next start. */
  #pending: { subnet: string; interface_name: string };
  #interface: InterfaceInfo;
  /** The subnet root mode picked because the default overlapped a network here, or null. */
  #subnetPicked: SubnetChoice | null = null;
  readonly #networkCheckIntervalMs: number | undefined;
  readonly #watchPath: boolean;
  #path: { monitor: PathMonitor; probe: NetworkPathProbe } | null = null;

  constructor(options: EngineOptions) {
    this.config = options.config;
    this.ops = options.ops;
    this.#log = options.logger;
    this.#networkCheckIntervalMs = options.networkCheckIntervalMs;
    this.#watchPath = options.watchPath ?? true;
    const subnet = this.ops.effectiveSubnet(this.config.net.subnet);
    this.#interface = { name: this.config.net.interface_name, kind: 'loopback', subnet };
    this.#pollInterval = this.config.bound_endpoints.poll_interval;
    this.#selectors = [...this.config.bound_endpoints.selectors];
    this.#pending = { subnet: this.config.net.subnet, interface_name: this.config.net.interface_name };
    this.#session = new IngressSession({ config: this.config, logger: this.#log });
    this.#prefs = EndpointPrefs.load(this.config.stateDir);
    const inspect = this.config.inspect;
    this.inspector = !inspect.enabled
      ? null
      : new RequestStore({
          perEndpoint: inspect.per_endpoint,
          maxRecords: inspect.max_requests,
          captureBodies: inspect.bodies,
          maxBodyBytes: inspect.max_body_bytes,
          redactHeaders: inspect.redact_headers,
        });
    // Told to the metrics once start() made them (it does before anything else runs).
    const measured = this.config.server.metrics_address !== undefined;
    if (measured)
      this.#session.observeApi({
        succeeded: (request) => this.metrics?.apiRequest(request.method, request.status),
        attemptFailed: (failure, attempt) => this.metrics?.apiRequest(attempt.method, failure.status),
      });
    this.#reconciler = new Reconciler({
      inspector: this.inspector,
      metrics: measured ? { upgraded: (hostname, ms) => this.metrics?.upgraded(hostname, ms) } : null,
      onPass: measured ? (ms) => this.metrics?.reconciled(ms) : undefined,
      ops: this.ops,
      session: this.#session,
      problems: this.#problems,
      logger: this.#log,
      stateDir: this.config.stateDir,
      plan: () => ({
        enabled: this.#enabled,
        pollInterval: this.#pollInterval,
        selectors: this.#selectors,
        disabled: this.#prefs.disabled,
      }),
      idleTimeoutMs: (hostname) => idleTimeoutMs(this.config, hostname),
    });
    this.feed = new StateFeed({
      snapshot: () => this.snapshot(),
      onError: (err) => this.#log.warn({ err: toUserFacing(err) }, 'state feed subscriber failed'),
    });
    if (options.privilegeProblem) this.#problems.set('helper', options.privilegeProblem);
    if (this.config.apiKey === undefined) this.#problems.fail('config', apiKeyMissing());
    else this.#useApiKey(this.config.apiKey);
    this.handlers = {
      hello: () => ({ protocol: CONTROL_PROTOCOL_VERSION, version: VERSION }),
      status: () => this.status(),
      list: () => this.endpoints(),
      setEnabled: async ({ enabled }) => {
        await this.setEnabled(enabled);
        return this.status();
      },
      logout: async () => this.logout(),
      setApiKey: async ({ apiKey }) => {
        await this.setApiKey(apiKey);
        return this.status();
      },
      getSettings: () => this.settings(),
      updateSettings: async (patch) => this.updateSettings(patch),
      setEndpoint: async ({ host, enabled, pinned }) => this.setEndpoint(host, { enabled, pinned }),
      requests: ({ wait_ms, ...query }) => this.requests(query, wait_ms ?? 0),
      request: ({ id }) => this.request(id),
      replay: ({ id }) => this.replay(id),
      doctor: () => this.doctor(),
      desktopAction: ({ action }) => {
        throw new NgrokdError(
          'DESKTOP_ONLY',
          `"${action}" is done by the ngrokd desktop app, and this is the daemon's browser UI`,
          'Open the desktop app for this, or use the command line (see `npm run ngrokd -- --help`).',
        );
      },
    };
  }

  #useApiKey(apiKey: string): void {
    this.#session.useApiKey(apiKey);
    this.#problems.clear('config');
  }

  /** Use a new API key (onboarding, or a key that was rejected) and register with it now. */
  async setApiKey(apiKey: string): Promise<void> {
    this.#useApiKey(apiKey);
    this.#reconciler.resetBackoff();
    await this.reconcile();
  }

  settings(): Settings {
    return {
      poll_interval: this.#pollInterval,
      selectors: [...this.#selectors],
      subnet: this.#pending.subnet,
      interface_name: this.#pending.interface_name,
      launch_at_login: false,
      notifications: false,
      desktop: false,
      subnet_in_use: this.#interface.subnet,
      ingress_ca: this.config.ingressCA ?? null,
      restart_required:
        this.#pending.subnet !== this.config.net.subnet ||
        this.#pending.interface_name !== this.config.net.interface_name,
    };
  }

  /** Poll interval and selectors apply now; subnet and interface name on the next start. */
  async updateSettings(patch: SettingsPatch): Promise<Settings> {
    if (patch.subnet !== undefined) this.#pending.subnet = patch.subnet;
    if (patch.interface_name !== undefined) this.#pending.interface_name = patch.interface_name;
    const selectorsChanged =
      patch.selectors !== undefined && JSON.stringify(patch.selectors) !== JSON.stringify(this.#selectors);
    if (patch.selectors !== undefined) this.#selectors = [...patch.selectors];
    if (patch.poll_interval !== undefined) this.#pollInterval = patch.poll_interval;
    if (patch.ingress_ca !== undefined) this.#session.setIngressCA(patch.ingress_ca);
    if (selectorsChanged) this.#session.forgetOperator(); // re-sent with the registration on the next pass
    if (selectorsChanged || patch.poll_interval !== undefined) await this.reconcile();
    return this.settings();
  }

  /** Bring up the interface and IPAM, load the ingress trust, then run the first pass and keep polling. */
  async start(): Promise<void> {
    // First: a taken metrics port fails the start before anything is set up.
    const address = this.config.server.metrics_address;
    if (address !== undefined) {
      const { EngineMetrics } = await import('./metrics.ts');
      this.metrics ??= new EngineMetrics({
        endpoints: () => this.#reconciler.liveCounters(),
        warmPool: () => {
          const d = this.#session.dialer;
          return d === null ? null : { hits: d.warmHits, misses: d.warmMisses, stale: d.warmStale };
        },
      });
      this.metricsAddress = await this.metrics.serve(address);
    }
    const name = this.config.net.interface_name;
    const subnet = await this.#chooseSubnet(name);
    this.#interface = await this.ops.ensureInterface({ name, subnet });
    this.#reconciler.watchNetwork({ name, subnet: this.#interface.subnet }, this.#networkCheckIntervalMs);
    await this.#reconciler.openIpam(this.#interface.subnet);
    this.#session.loadTrust(); // a broken ingressCA file fails the start, naming the file
    if (this.#watchPath) this.#startPathMonitor(name);
    await this.reconcile();
  }

  /**
   * The machine woke up or the network changed (path-monitor.ts, or the desktop shell's power
   * events): connections kept for the old path go, and the API is asked again now, so the first
   * connection after the change succeeds in one dial and discovery is current.
   */
  networkChanged(reason: PathChange, detail: string): void {
    this.#log.info({ reason, detail }, 'network changed: dropping warm connections and polling now');
    this.#session.dialer?.resetPath();
    if (this.#enabled) void this.reconcile();
  }

  #startPathMonitor(interfaceName: string): void {
    const probe = createNetworkPathProbe({ ownInterface: interfaceName });
    const monitor = new PathMonitor({
      destination: () => {
        const address = this.#session.dialer?.remoteAddress ?? null;
        // The Linux probe asks for IPv4 routes; an IPv6 ingress is judged by the default route.
        return address !== null && /^\d+\.\d+\.\d+\.\d+$/.test(address) ? address : PATH_PROBE_DESTINATION;
      },
      fingerprint: (destination) => probe.fingerprint(destination),
      onChange: (reason, detail) => this.networkChanged(reason, detail),
    });
    monitor.start();
    this.#path = { monitor, probe };
  }

  /**
   * The subnet to set up. Root mode with net.subnet not set keeps a subnet picked at an earlier
   * start, or picks the first free one of SUBNET_CANDIDATES when the default overlaps a network
   * here and nothing is mapped yet (ipam.ts, chooseSubnet). The helper's subnet is fixed by root,
   * so helper mode never picks: a conflict refuses the start with the helper.json fix instead.
   */
  async #chooseSubnet(name: string): Promise<string> {
    const configured = this.#interface.subnet;
    if (this.ops.mode !== 'root' || this.config.subnetExplicit) return configured;
    const decision = await chooseSubnet({
      fallback: configured,
      stateDir: this.config.stateDir,
      mappingsPath: join(this.config.stateDir, MAPPINGS_FILE),
      candidates: SUBNET_CANDIDATES,
      conflict: (subnet) => this.ops.checkNetwork({ name, subnet }),
    });
    for (const note of decision.notes) this.#log.warn({ subnet: decision.subnet }, note);
    this.#subnetPicked = decision.choice;
    return decision.subnet;
  }

  /** Run one reconcile pass now (coalescing with one already running), then reschedule polling. */
  reconcile(): Promise<void> {
    return this.#reconciler.reconcile();
  }

  async setEnabled(enabled: boolean): Promise<void> {
    if (this.#enabled === enabled) return;
    this.#enabled = enabled;
    if (!enabled) this.#reconciler.cancelPoll();
    await this.reconcile();
  }

  async logout(): Promise<{ deleted: boolean }> {
    if (this.#session.api === null) return { deleted: false };
    const wasEnabled = this.#enabled;
    this.#enabled = false;
    await this.reconcile();
    const deleted = await this.#session.logout();
    this.#enabled = wasEnabled;
    return { deleted };
  }

  /** Close every listener and undo the privileged state (hosts section, addresses, interface). */
  async stop(): Promise<void> {
    this.#path?.monitor.stop();
    this.#path?.probe.close();
    this.#path = null;
    await this.#reconciler.stop();
    this.#session.close();
    await this.metrics?.close();
    await this.ops.teardown();
  }

  /**
   * Turn the endpoints of one hostname off or on, or pin them; saved first, then applied without
   * asking the API. `host` is a hostname or an endpoint URL; it must be an endpoint discovered now,
   * or one with a saved choice (to undo it after the endpoint went away).
   */
  async setEndpoint(host: string, change: { enabled?: boolean; pinned?: boolean }): Promise<EndpointView[]> {
    const hostname = /^[a-z][a-z0-9+.-]*:\/\//i.test(host)
      ? parseEndpointUrl(host).hostname
      : host.toLowerCase();
    const known = new Set(this.endpoints().map((e) => e.hostname));
    if (!known.has(hostname) && !this.#prefs.disabled.has(hostname) && !this.#prefs.pinned.has(hostname)) {
      const names = [...known].sort();
      throw new NgrokdError(
        'HOSTNAME_INVALID',
        `no endpoint named ${JSON.stringify(host)} (known: ${names.length === 0 ? 'none yet' : names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''})`,
        'Use a hostname as `npm run ngrokd -- list` shows it.',
      );
    }
    let switched = false;
    if (change.enabled !== undefined) switched = await this.#prefs.set('disabled', hostname, !change.enabled);
    if (change.pinned !== undefined) await this.#prefs.set('pinned', hostname, change.pinned);
    if (switched) await this.#reconciler.applySwitches();
    this.feed.tick();
    return this.endpoints();
  }

  #inspectorOff(): NgrokdError {
    return new NgrokdError(
      'INSPECTOR_OFF',
      'the request inspector is off (inspect.enabled is false in the config)',
      'Set `inspect.enabled: true` (the default) and restart the daemon.',
    );
  }

  /** Inspected requests (see the contract's `requests`); waits up to `waitMs` for a first one. */
  async requests(
    query: { endpoint?: string; after?: number; limit?: number },
    waitMs = 0,
  ): Promise<RequestRecord[]> {
    if (this.inspector === null) throw this.#inspectorOff();
    return waitMs > 0 ? this.inspector.listWaiting(query, waitMs) : this.inspector.list(query);
  }

  request(id: number): RequestDetail {
    if (this.inspector === null) throw this.#inspectorOff();
    const detail = this.inspector.get(id);
    if (detail === undefined)
      throw new NgrokdError(
        'REQUEST_NOT_FOUND',
        `the inspector has no request ${id} (it keeps the most recent ${this.config.inspect.per_endpoint} per endpoint)`,
        'List the requests it has with `npm run ngrokd -- requests`.',
      );
    return detail;
  }

  /** Send captured request `id` again through its endpoint's local address. */
  async replay(id: number): Promise<RequestRecord> {
    if (this.inspector === null) throw this.#inspectorOff();
    return replay(this.inspector, id, (record) => {
      const endpoint = this.endpoints().find((e) => e.url === record.url && e.listening);
      return endpoint === undefined ? null : { host: endpoint.ip, port: endpoint.listen_port };
    });
  }

  /** Every `doctor` check (doctor.ts) on what this engine has set up now. */
  doctor(overrides: Partial<DoctorContext> = {}): Promise<DoctorReport> {
    const api = this.#session.api;
    const operator = this.#session.operator;
    const dialer = this.#session.dialer;
    const ops = this.ops;
    const iface = this.#interface;
    return runDoctor({
      configProblem: api === null ? apiKeyMissing().toJSON() : null,
      apiProbe:
        api === null
          ? null
          : async () => {
              if (operator === null) {
                // One page of one item: proves the key without walking the account's operators.
                await api.request('GET', '/kubernetes_operators?limit=1');
                return { operatorFound: null };
              }
              return { operatorFound: (await api.getOperator(operator.operatorId)) !== undefined };
            },
      operator:
        operator === null
          ? null
          : { id: operator.operatorId, notAfter: operator.notAfter, certPem: operator.certPem },
      clockSkewMs: () => this.#session.clockSkewMs,
      ingressProbe: dialer === null ? null : () => dialer.probe(),
      ingress: this.#session.ingress,
      mode: ops.mode,
      helper: ops.helperInfo?.() ?? null,
      appVersion: VERSION,
      interface: iface,
      endpoints: this.endpoints(),
      hostsPath: ops.hostsPath ?? null,
      readHosts: async () => {
        const path = ops.hostsPath;
        if (path === null) return [];
        // Marked with the configured name, as ensureInterface was asked (user mode's `lo` is not it).
        const section = new HostsSection({
          path,
          interfaceName: this.config.net.interface_name,
          subnet: iface.subnet,
        });
        try {
          return await section.read();
        } finally {
          section.close();
        }
      },
      subnetConflict: () => ops.checkNetwork({ name: iface.name, subnet: iface.subnet }),
      platform: process.platform,
      listeners: () => {
        const subnet = parseCidr(iface.subnet);
        return listeningSockets(
          process.platform,
          runCommand,
          (ip) => ip === '0.0.0.0' || ip === '::' || (parseIpv4(ip) !== null && contains(subnet, ip)),
        );
      },
      networkInterfaces,
      interfaceUp,
      localByRoute,
      ...overrides,
    });
  }

  endpoints(): EndpointView[] {
    return endpointViews(this.#reconciler.endpoints(), this.#prefs.pinned);
  }

  status(endpoints: EndpointView[] = this.endpoints()): StatusView {
    return statusView(
      {
        version: VERSION,
        enabled: this.#enabled,
        operator: this.#session.operator,
        ingress: this.#session.ingress,
        mode: this.ops.mode,
        interface: this.#interface,
        hostsPath: this.ops.hostsPath ?? null,
        subnetPicked: this.#subnetPicked,
        lastPollAt: this.#reconciler.lastPollAt,
        errors: this.#problems.list(),
        warnings: this.#problems.warnings(),
      },
      endpoints,
      this.#reconciler.lastUpgradeAt(),
    );
  }

  snapshot(): StateSnapshot {
    const endpoints = this.endpoints();
    return { status: this.status(endpoints), endpoints };
  }
}
