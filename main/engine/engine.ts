/**
 * The engine: ngrok API → discovery → IPAM → privileged ops (interface, addresses, hosts) →
 * listeners → forwarder → counters. One reconcile pass at a time diffs what should exist against
 * what does, converges idempotently, and keeps whatever works running when the API is down.
 */
import { hostname as machineName } from 'node:os';
import { join } from 'node:path';
import type {
  CommandHandlers,
  EndpointView,
  Settings,
  SettingsPatch,
  StateSnapshot,
  StatusView,
} from '../common/contract.ts';
import { CONTROL_PROTOCOL_VERSION } from '../common/contract.ts';
import { NgrokdError, toUserFacing, type UserFacingError } from '../common/errors.ts';
import type { InterfaceInfo, PrivilegedOps } from '../common/privileged.ts';
import { DEFAULT_INGRESS, type ResolvedConfig } from './config.ts';
import type { Logger } from './log.ts';
import { Ipam } from './ipam.ts';
import { NgrokApi, NgrokApiError } from './api/ngrok-api.ts';
import { CredentialStore } from './api/credential-store.ts';
import { Registration, type RegisteredOperator } from './api/registration.ts';
import { discoverEndpoints, type DesiredEndpoint } from './api/discovery.ts';
import { BindingDialer } from './binding/dialer.ts';
import { loadIngressTrust, type IngressTrust } from './binding/trust.ts';
import { bootstrapIngressTrust, PINNED_CA_FILE } from './binding/trust-bootstrap.ts';
import { EndpointListener } from './forwarder/endpoint-listener.ts';
import { VERSION } from './version.ts';

export { VERSION };

interface ActiveEndpoint {
  desired: DesiredEndpoint;
  ip: string;
  listener: EndpointListener | null;
  listenPort: number;
  /** Why it is not listening, when it is not. */
  problem: UserFacingError | null;
}

/** Where an error came from: one current error per source, cleared when the source recovers. */
type ErrorSource =
  'helper' | 'config' | 'api' | 'registration' | 'discovery' | 'interface' | 'hosts' | 'ipam';

/**
 * Listeners opened at a time. Thousands in flight at once keep every one's transient listen state
 * alive past young-generation collections, which roughly doubles the heap a big start peaks at.
 */
const LISTEN_CONCURRENCY = 256;

const INGRESS_CODES = new Set(['INGRESS_UNTRUSTED', 'CLIENT_CERT_REJECTED', 'INGRESS_UNREACHABLE']);

function sameEntries(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

export interface EngineOptions {
  config: ResolvedConfig;
  ops: PrivilegedOps;
  logger: Logger;
  /** Why privileged operations are degraded (e.g. the helper is missing), shown in status. */
  privilegeProblem?: UserFacingError | null;
}

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
  readonly #log: Logger;
  readonly #endpoints = new Map<string, ActiveEndpoint>();
  readonly #errors = new Map<ErrorSource, UserFacingError>();
  #api: NgrokApi | null = null;
  #registration: Registration | null = null;
  #pollInterval: number;
  #selectors: string[];
  /** Subnet and interface name as last set; they apply on the next start. */
  #pending: { subnet: string; interface_name: string };
  #interface: InterfaceInfo;
  #ipam: Ipam | null = null;
  #trust: IngressTrust | null = null;
  #dialer: BindingDialer | null = null;
  #operator: RegisteredOperator | null = null;
  #enabled = true;
  #lastPollAt: string | null = null;
  /** hostname → IP as last written to the hosts section. */
  #lastHosts: ReadonlyMap<string, string> = new Map();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #rerun = false;
  #stopped = false;
  #failures = 0;

  constructor(options: EngineOptions) {
    this.config = options.config;
    this.ops = options.ops;
    this.#log = options.logger;
    const subnet = this.ops.effectiveSubnet(this.config.net.subnet);
    this.#interface = { name: this.config.net.interface_name, kind: 'loopback', subnet };
    this.#pollInterval = this.config.bound_endpoints.poll_interval;
    this.#selectors = [...this.config.bound_endpoints.selectors];
    this.#pending = { subnet: this.config.net.subnet, interface_name: this.config.net.interface_name };
    if (options.privilegeProblem) this.#errors.set('helper', options.privilegeProblem);
    if (this.config.apiKey === undefined) this.#setError('config', apiKeyMissing());
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
      subscribe: () => this.snapshot(),
    };
  }

  #useApiKey(apiKey: string): void {
    this.#api = new NgrokApi({ baseUrl: this.config.api.url, apiKey, logger: this.#log });
    this.#registration = new Registration({
      api: this.#api,
      store: new CredentialStore(this.config.stateDir),
      logger: this.#log,
    });
    this.#operator = null;
    this.#errors.delete('config');
  }

  /** Use a new API key (onboarding, or a key that was rejected) and register with it now. */
  async setApiKey(apiKey: string): Promise<void> {
    this.#useApiKey(apiKey);
    this.#failures = 0;
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
    if (selectorsChanged) this.#operator = null; // re-sent with the registration on the next pass
    if (selectorsChanged || patch.poll_interval !== undefined) await this.reconcile();
    return this.settings();
  }

  /** Bring up the interface and IPAM, then run the first pass and keep polling. */
  async start(): Promise<void> {
    this.#interface = await this.ops.ensureInterface({
      name: this.config.net.interface_name,
      subnet: this.#interface.subnet,
    });
    this.#ipam = await Ipam.open({
      subnet: this.#interface.subnet,
      path: join(this.config.stateDir, 'ip_mappings.json'),
    });
    for (const warning of this.#ipam.report.warnings)
      this.#log.warn({ warning }, 'ip_mappings.json entry dropped');
    // A broken ingressCA file is a configuration error: fail fast, naming the file.
    this.#trust = this.#loadTrust();
    await this.reconcile();
  }

  /** Run one reconcile pass now (coalescing with one already running), then reschedule polling. */
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

  #schedule(): void {
    if (this.#stopped || !this.#enabled || this.#api === null) return;
    const poll = this.#pollInterval * 1000;
    // After failures retry sooner than a long poll interval, backing off: 1 s, 2 s, 4 s … up to the interval.
    const delay = this.#failures === 0 ? poll : Math.min(poll, 1000 * 2 ** Math.min(this.#failures - 1, 8));
    this.#timer = setTimeout(() => void this.reconcile(), delay);
    this.#timer.unref?.();
  }

  async #pass(): Promise<void> {
    const desired = await this.#desiredEndpoints();
    if (desired === null) return; // API trouble: keep what works running.
    await this.#converge(desired);
  }

  /** The endpoints that should exist now, or null when they cannot be known (keep the current set). */
  async #desiredEndpoints(): Promise<DesiredEndpoint[] | null> {
    if (!this.#enabled) return [];
    if (this.#api === null || this.#registration === null) return null;
    try {
      const operator = await this.#ensureOperator();
      const { endpoints, problems } = await discoverEndpoints(this.#api, operator.operatorId);
      this.#lastPollAt = new Date().toISOString();
      if (problems.length > 0) this.#errors.set('discovery', problems[0] as UserFacingError);
      else this.#errors.delete('discovery');
      this.#errors.delete('api');
      this.#failures = 0;
      return endpoints;
    } catch (err) {
      this.#failures++;
      if (err instanceof NgrokApiError && err.status === 404) {
        // The registration is gone: register again on the next pass.
        this.#operator = null;
      }
      this.#setError('api', err);
      this.#log.warn({ err: toUserFacing(err) }, 'discovery failed; keeping current endpoints');
      return null;
    }
  }

  async #ensureOperator(): Promise<RegisteredOperator> {
    const renewBy = Date.now() + 30 * 24 * 3600 * 1000;
    if (this.#operator !== null && this.#operator.notAfter.getTime() > renewBy) return this.#operator;
    const registration = this.#registration as Registration;
    const operator = await registration.ensureRegistered({
      description: `ngrokd Desktop on ${machineName()}`,
      metadata: JSON.stringify({ app: 'ngrokd-desktop', version: VERSION, host: machineName() }),
      selectors: this.#selectors,
    });
    this.#operator = operator;
    this.#errors.delete('registration');
    const ingress = this.config.ingressEndpoint ?? operator.ingressEndpoint ?? DEFAULT_INGRESS;
    if (this.#dialer === null) {
      const credentials = { keyPem: operator.keyPem, certPem: operator.certPem };
      if ((this.#trust as IngressTrust).extraCount === 0) await this.#bootstrapTrust(ingress, credentials);
      this.#dialer = new BindingDialer({ ingress, credentials, trust: this.#trust as IngressTrust });
    } else {
      this.#dialer.setCredentials({ keyPem: operator.keyPem, certPem: operator.certPem });
    }
    return operator;
  }

  #loadTrust(): IngressTrust {
    return loadIngressTrust({
      ingressCA: this.config.ingressCA,
      trustDir: this.config.trustDir,
      pinnedCA: join(this.config.stateDir, PINNED_CA_FILE),
    });
  }

  /**
   * Nothing ngrok-specific is trusted (no ingressCA, nothing in /etc/ssl/certs/ngrok/, nothing
   * pinned): pin ngrok's CA by its published fingerprint after verifying the chain by hand (see
   * trust-bootstrap.ts). If that fails, system roots stay the only trust and connections report
   * INGRESS_UNTRUSTED with the fix; verification is never skipped.
   */
  async #bootstrapTrust(ingress: string, credentials: { keyPem: string; certPem: string }): Promise<void> {
    try {
      await bootstrapIngressTrust({
        ingress,
        credentials,
        pinPath: join(this.config.stateDir, PINNED_CA_FILE),
      });
      this.#trust = this.#loadTrust();
    } catch (err) {
      this.#log.warn({ err: toUserFacing(err, 'INGRESS_UNTRUSTED') }, 'ingress CA bootstrap failed');
    }
  }

  async #converge(desired: readonly DesiredEndpoint[]): Promise<void> {
    const ipam = this.#ipam as Ipam;
    let ips: Map<string, string>;
    try {
      ips = ipam.assign(desired.map((d) => d.address.hostname));
      await ipam.save();
      this.#errors.delete('ipam');
    } catch (err) {
      this.#setError('ipam', err);
      return;
    }
    const wanted = new Map<string, { desired: DesiredEndpoint; ip: string }>();
    for (const d of desired) {
      const ip = ips.get(d.address.hostname) as string;
      const key = `${ip}:${d.address.port}`;
      if (wanted.has(key)) continue; // Same host and port under two schemes: the first (sorted) wins.
      wanted.set(key, { desired: d, ip });
    }
    // 1. Remove what should no longer exist: listeners first, then hosts lines, then addresses.
    const removals: Promise<void>[] = [];
    for (const [key, active] of this.#endpoints) {
      const next = wanted.get(key);
      if (next !== undefined && next.desired.url === active.desired.url) continue;
      this.#endpoints.delete(key);
      if (active.listener !== null) removals.push(active.listener.close());
    }
    await Promise.all(removals);
    // 2. Addresses for everything wanted, then listeners, then the hosts section.
    try {
      await this.ops.setAddresses([...new Set(ips.values())]);
      this.#errors.delete('interface');
    } catch (err) {
      this.#setError('interface', err);
    }
    await this.#openListeners(wanted);
    await this.#writeHosts();
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
    if (this.#dialer === null) return;
    try {
      const socket = await this.ops.listen(entry.ip, entry.desired.address.port);
      entry.listenPort = socket.port;
      entry.listener = new EndpointListener({
        socket,
        address: entry.desired.address,
        dialer: this.#dialer,
        logger: this.#log,
      });
      entry.problem = null;
    } catch (err) {
      entry.problem = toUserFacing(err, 'LISTEN_FAILED');
      this.#log.warn({ err: entry.problem, url: entry.desired.url }, 'cannot listen');
    }
  }

  async #writeHosts(): Promise<void> {
    const hosts = new Map<string, string>();
    for (const e of this.#endpoints.values())
      if (e.listener !== null) hosts.set(e.desired.address.hostname, e.ip);
    if (sameEntries(hosts, this.#lastHosts) && !this.#errors.has('hosts')) return;
    try {
      await this.ops.setHosts(Array.from(hosts, ([hostname, ip]) => ({ ip, hostname })));
      this.#lastHosts = hosts;
      this.#errors.delete('hosts');
    } catch (err) {
      this.#setError('hosts', err);
    }
  }

  #setError(source: ErrorSource, err: unknown): void {
    this.#errors.set(source, toUserFacing(err));
  }

  async setEnabled(enabled: boolean): Promise<void> {
    if (this.#enabled === enabled) return;
    this.#enabled = enabled;
    if (!enabled) clearTimeout(this.#timer);
    await this.reconcile();
  }

  async logout(): Promise<{ deleted: boolean }> {
    if (this.#registration === null) return { deleted: false };
    const wasEnabled = this.#enabled;
    this.#enabled = false;
    await this.reconcile();
    const deleted = await this.#registration.logout();
    this.#operator = null;
    this.#enabled = wasEnabled;
    return { deleted };
  }

  /** Close every listener and undo the privileged state (hosts section, addresses, interface). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
    await Promise.all([...this.#endpoints.values()].map((e) => e.listener?.close()));
    this.#endpoints.clear();
    this.#dialer?.close();
    await this.ops.teardown();
  }

  endpoints(): EndpointView[] {
    const views: EndpointView[] = [];
    for (const e of this.#endpoints.values()) {
      const counters = e.listener?.counters.snapshot();
      views.push({
        id: e.desired.ids[0] ?? '',
        ids: e.desired.ids,
        url: e.desired.url,
        proto: e.desired.address.proto,
        hostname: e.desired.address.hostname,
        ip: e.ip,
        port: e.desired.address.port,
        listen_port: e.listenPort,
        listening: e.listener !== null,
        bytes_in: counters?.bytes_in ?? 0,
        bytes_out: counters?.bytes_out ?? 0,
        connections: counters?.connections ?? 0,
        connections_total: counters?.connections_total ?? 0,
        errors: counters?.errors ?? 0,
        last_error: e.problem ?? counters?.last_error ?? null,
        upgrade_ms_p50: counters?.upgrade_ms_p50 ?? null,
      });
    }
    return views.sort((a, b) => a.url.localeCompare(b.url));
  }

  status(endpoints: EndpointView[] = this.endpoints()): StatusView {
    const errors = [...this.#errors.values()];
    const seen = new Set(errors.map((e) => e.code));
    // The ingress is shared: its failure stops being current once any endpoint got through after it.
    let lastSuccess = 0;
    for (const e of this.#endpoints.values())
      lastSuccess = Math.max(lastSuccess, e.listener?.counters.lastUpgradeAt ?? 0);
    for (const e of endpoints) {
      const err = e.last_error;
      const current = err !== null && Date.parse(err.at ?? '') > lastSuccess;
      if (err !== null && current && INGRESS_CODES.has(err.code) && !seen.has(err.code)) {
        errors.push(err);
        seen.add(err.code);
      }
    }
    errors.sort((a, b) => (b.at ?? '').localeCompare(a.at ?? ''));
    const totals = { bytes_in: 0, bytes_out: 0, connections: 0 };
    for (const e of endpoints) {
      totals.bytes_in += e.bytes_in;
      totals.bytes_out += e.bytes_out;
      totals.connections += e.connections;
    }
    return {
      version: VERSION,
      enabled: this.#enabled,
      registered: this.#operator !== null,
      operator_id: this.#operator?.operatorId ?? null,
      ingress_endpoint: this.#dialer?.ingress ?? this.config.ingressEndpoint ?? DEFAULT_INGRESS,
      mode: this.ops.mode,
      interface: { name: this.#interface.name, kind: this.#interface.kind, subnet: this.#interface.subnet },
      endpoint_count: endpoints.length,
      hosts_path: this.ops.hostsPath ?? null,
      cert_not_after: this.#operator?.notAfter.toISOString() ?? null,
      last_poll_at: this.#lastPollAt,
      last_error: errors[0] ?? null,
      errors,
      totals,
    };
  }

  snapshot(): StateSnapshot {
    const endpoints = this.endpoints();
    return { status: this.status(endpoints), endpoints };
  }
}
