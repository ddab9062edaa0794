/**
 * The engine's session with ngrok's binding ingress: the API client and registration for the current
 * API key, the registered operator (its key and certificate), the ingress trust (bootstrapped on
 * first use when nothing ngrok-specific is trusted) and the dialer every listener connects through.
 * A renewed certificate goes to the dialer at once: the next dial uses it, no restart.
 */
import { hostname as machineName } from 'node:os';
import { join } from 'node:path';
import { toUserFacing } from '../common/errors.ts';
import { DEFAULT_INGRESS } from '../common/defaults.ts';
import { keepaliveTimers, type ResolvedConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { Random } from './api/backoff.ts';
import { budgetFor } from './api/budget.ts';
import { NgrokApi, type ApiObserver, type NgrokApiOptions } from './api/ngrok-api.ts';
import { CredentialStore } from './api/credential-store.ts';
import { Registration, type RegisteredOperator } from './api/registration.ts';
import type { RenewalProblem } from './api/renewal.ts';
import { BindingDialer } from './binding/dialer.ts';
import { DEFAULT_WARM_CONNECTIONS } from './binding/warm-pool.ts';
import { loadIngressTrust, type IngressTrust } from './binding/trust.ts';
import { bootstrapIngressTrust, PINNED_CA_FILE } from './binding/trust-bootstrap.ts';
import { VERSION } from './version.ts';

/** What tests may set on the API client (virtual time, short timeouts); the rest comes from the config. */
export type ApiClientOptions = Pick<
  NgrokApiOptions,
  'timeoutMs' | 'retry' | 'fetch' | 'sleep' | 'random' | 'now' | 'budget' | 'signal'
>;

export interface IngressSessionOptions {
  config: ResolvedConfig;
  logger: Logger;
  api?: ApiClientOptions;
  /** The clock renewal runs on; default the API client's, else Date.now. */
  now?: () => number;
  /** Jitter of the renewal backoff; default Math.random. */
  random?: Random;
}

export class IngressSession {
  readonly #config: ResolvedConfig;
  readonly #log: Logger;
  readonly #apiOptions: ApiClientOptions;
  readonly #now: () => number;
  readonly #random: Random | undefined;
  readonly #observers: ApiObserver[] = [];
  /** The API server's clock as of its last answer (its `Date` header) and ours at that moment. */
  #serverClock: { serverMs: number; localMs: number } | null = null;
  #api: NgrokApi | null = null;
  #registration: Registration | null = null;
  #operator: RegisteredOperator | null = null;
  #trust: IngressTrust | null = null;
  #dialer: BindingDialer | null = null;
  /** The certificate the dialer has. */
  #dialerCertPem: string | null = null;

  constructor(options: IngressSessionOptions) {
    this.#config = options.config;
    this.#log = options.logger;
    this.#apiOptions = options.api ?? {};
    this.#now = options.now ?? options.api?.now ?? Date.now;
    this.#random = options.random;
  }

  /** Tell `observer` how every API request goes, for this key and the next ones. */
  observeApi(observer: ApiObserver): void {
    this.#observers.push(observer);
  }

  /**
   * How far the API server's clock is ahead of ours (negative: behind), from its last answer's
   * `Date` header (whole seconds, so ±1 s is noise); null before any answer.
   */
  get clockSkewMs(): number | null {
    return this.#serverClock === null ? null : this.#serverClock.serverMs - this.#serverClock.localMs;
  }

  /** The API client for the current key; null while there is no key. */
  get api(): NgrokApi | null {
    return this.#api;
  }

  /** The registered operator, null until registration succeeded (or after it was forgotten). */
  get operator(): RegisteredOperator | null {
    return this.#operator;
  }

  /** The dialer, once the first registration gave it credentials. */
  get dialer(): BindingDialer | null {
    return this.#dialer;
  }

  /** The ingress connections go to (or will, once registered). */
  get ingress(): string {
    return this.#dialer?.ingress ?? this.#config.ingressEndpoint ?? DEFAULT_INGRESS;
  }

  /** Use a new API key: a new client and registration; the operator is registered again on the next pass. */
  useApiKey(apiKey: string): void {
    this.#api = new NgrokApi({
      baseUrl: this.#config.api.url,
      apiKey,
      logger: this.#log,
      budget: budgetFor(this.#config.api.requests_per_minute),
      // Through the session, so an observer set later (or kept across keys) hears every request.
      observer: {
        attemptFailed: (failure, attempt) => {
          for (const o of this.#observers) o.attemptFailed?.(failure, attempt);
        },
        succeeded: (request) => {
          const serverMs = request.date === null ? Number.NaN : Date.parse(request.date);
          if (Number.isFinite(serverMs)) this.#serverClock = { serverMs, localMs: Date.now() };
          for (const o of this.#observers) o.succeeded?.(request);
        },
      },
      ...this.#apiOptions,
    });
    this.#registration = new Registration({
      api: this.#api,
      store: new CredentialStore(this.#config.stateDir),
      logger: this.#log,
      now: this.#now,
      ...(this.#random === undefined ? {} : { random: this.#random }),
    });
    this.#operator = null;
  }

  /** Load the ingress trust. A broken ingressCA file is a configuration error: this throws, naming it. */
  loadTrust(): void {
    this.#trust = this.#loadTrust();
  }

  /**
   * Trust another ingressCA file (null: none). The file is loaded first, so a bad one is refused
   * (CONFIG_INVALID naming it) and the trust in use stays; a good one applies to the next dial.
   */
  setIngressCA(path: string | null): void {
    const previous = this.#config.ingressCA;
    this.#config.ingressCA = path ?? undefined;
    try {
      this.#trust = this.#loadTrust();
    } catch (err) {
      this.#config.ingressCA = previous;
      throw err;
    }
    this.#dialer?.setTrust(this.#trust);
  }

  /** Register again on the next pass (the selectors changed, or the registration is gone). */
  forgetOperator(): void {
    this.#operator = null;
  }

  /**
   * What the user should know about the certificate in use (a failed renewal, expiry), or null.
   * Read it after every pass: it depends on the time left.
   */
  renewalProblem(): RenewalProblem | null {
    if (this.#operator === null || this.#registration === null) return null;
    return this.#registration.renewalProblem(this.#operator);
  }

  /** When the certificate in use may be renewed next, or null when there is none. */
  nextRenewalAt(): number | null {
    if (this.#operator === null || this.#registration === null) return null;
    return this.#registration.nextRenewalAt(this.#operator);
  }

  /**
   * The registered operator: the current one while no renewal is due (renewal.ts has the rule),
   * else registered (or renewed) with `selectors`. The first one also brings up the dialer; a
   * renewed certificate replaces the dialer's for every later dial.
   */
  async ensureOperator(selectors: readonly string[]): Promise<RegisteredOperator> {
    const registration = this.#registration as Registration;
    if (this.#operator !== null && !registration.renewalDue(this.#operator)) return this.#operator;
    const operator = await registration.ensureRegistered({
      description: `ngrokd Desktop on ${machineName()}`,
      metadata: JSON.stringify({ app: 'ngrokd-desktop', version: VERSION, host: machineName() }),
      selectors: [...selectors],
    });
    this.#operator = operator;
    const credentials = { keyPem: operator.keyPem, certPem: operator.certPem };
    if (this.#dialer === null) {
      const ingress = this.#config.ingressEndpoint ?? operator.ingressEndpoint ?? DEFAULT_INGRESS;
      if ((this.#trust as IngressTrust).extraCount === 0) await this.#bootstrapTrust(ingress, credentials);
      this.#dialer = new BindingDialer({
        ingress,
        credentials,
        trust: this.#trust as IngressTrust,
        keepalive: keepaliveTimers(this.#config.connections.keepalive),
        earlyData: this.#config.connections.early_data,
        warmConnections: Math.min(DEFAULT_WARM_CONNECTIONS, this.#config.connections.warm_max),
        warmMax: this.#config.connections.warm_max,
      });
    } else if (this.#dialerCertPem !== credentials.certPem) {
      // A renewed certificate: new dials use it (connections already open keep theirs). The same
      // one again (a selector change) keeps the dialer's cached TLS sessions and warm connections.
      this.#dialer.setCredentials(credentials);
    }
    this.#dialerCertPem = credentials.certPem;
    return operator;
  }

  /** Delete the operator at ngrok and the local credentials. False when there was nothing to delete. */
  async logout(): Promise<boolean> {
    if (this.#registration === null) return false;
    const deleted = await this.#registration.logout();
    this.#operator = null;
    return deleted;
  }

  close(): void {
    this.#dialer?.close();
  }

  #loadTrust(): IngressTrust {
    return loadIngressTrust({
      ingressCA: this.#config.ingressCA,
      trustDir: this.#config.trustDir,
      pinnedCA: join(this.#config.stateDir, PINNED_CA_FILE),
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
        pinPath: join(this.#config.stateDir, PINNED_CA_FILE),
      });
      this.#trust = this.#loadTrust();
    } catch (err) {
      this.#log.warn({ err: toUserFacing(err, 'INGRESS_UNTRUSTED') }, 'ingress CA bootstrap failed');
    }
  }
}
