/**
 * The operator registration lifecycle (shared/ngrok-protocol.md §1 "Operators"): register once,
 * reuse the registration across restarts, register again when ngrok has forgotten it, obtain or renew
 * the client certificate, keep the endpoint selectors in sync, and delete it on sign-out.
 *
 * A renewal never risks the working pair: the old key and certificate stay in use and on disk until
 * a new certificate for the new key has arrived and been stored. If the renewal fails while the old
 * certificate is still valid, the old pair is returned together with the problem. When a renewal
 * is due, how often it may be tried and what a failure tells the user is renewal.ts's rule; this
 * registration keeps its state (last success, failures since), so the ingress session asks it.
 */
import { Buffer } from 'node:buffer';
import { NgrokdError, toUserFacing, type UserFacingError } from '../../common/errors.ts';
import { DEFAULT_INGRESS } from '../../common/defaults.ts';
import type { Logger } from '../log.ts';
import type { CredentialStore, StoredOperator } from './credential-store.ts';
import { certificateMatchesKey, createKeyAndCsr, parseCertificate } from './csr.ts';
import type { Random } from './backoff.ts';
import type { NgrokApi } from './ngrok-api.ts';
import { RenewalSchedule, type CertificateValidity, type RenewalProblem } from './renewal.ts';
import type { Operator, OperatorCert } from './schemas.ts';

export const DEFAULT_SELECTORS: readonly string[] = ['true'];
const MAX_DESCRIPTION_BYTES = 255;
const MAX_METADATA_BYTES = 4096;

export interface RegisterParams {
  /** At most 255 bytes. */
  description: string;
  /** Free-form text or an object sent as JSON text; at most 4096 bytes. Default "{}". */
  metadata?: string | Record<string, unknown>;
  /** CEL endpoint selectors, evaluated by ngrok. Default ["true"]. */
  selectors?: readonly string[];
}

export type RegistrationEvent =
  'registered' | 'reregistered' | 'certificate-issued' | 'renewed' | 'selectors-updated';

export interface RegisteredOperator {
  operatorId: string;
  /** Secret: never log it. */
  keyPem: string;
  certPem: string;
  notBefore: Date;
  notAfter: Date;
  /** `host:port` from the API (`:443` added when absent); a config override is the caller's to apply. */
  ingressEndpoint: string;
  /** What this call changed, in order; empty when the stored registration was simply reused. */
  events: RegistrationEvent[];
  /** Problems that did not stop the registration (e.g. a failed renewal with a still-valid certificate). */
  problems: UserFacingError[];
}

export interface RegistrationOptions {
  api: NgrokApi;
  store: CredentialStore;
  now?: () => number;
  /** Jitter of the renewal backoff; default Math.random. */
  random?: Random;
  logger?: Logger;
}

interface KeyPair {
  keyPem: string;
  certPem: string;
}

/** `host:port` of the binding ingress; `:443` when no port is given, the default when empty. */
export function normalizeIngress(value: string | undefined): string {
  const trimmed = value?.trim() ?? '';
  if (trimmed === '') return DEFAULT_INGRESS;
  return /^[^:[\]]+:[0-9]+$/.test(trimmed) || /^\[.*\]:[0-9]+$/.test(trimmed) ? trimmed : `${trimmed}:443`;
}

/** An empty certificate or zero dates (0001-01-01T00:00:00Z) mean "no certificate". */
export function hasCertificate(cert: OperatorCert | null | undefined): cert is OperatorCert {
  if (cert === null || cert === undefined || cert.cert.trim() === '') return false;
  return ![cert.not_before, cert.not_after].some((date) => date === '' || date.startsWith('0001-01-01'));
}

function sameSelectors(a: readonly string[], b: readonly string[]): boolean {
  const left = [...a].sort();
  const right = [...b].sort();
  return left.length === right.length && left.every((value, i) => value === right[i]);
}

function storedFrom(op: Operator): StoredOperator {
  return {
    id: op.id,
    ingress_endpoint: op.binding?.ingress_endpoint ?? '',
    region: op.region ?? '',
    created_at: op.created_at ?? '',
  };
}

function checkedText(params: RegisterParams): { description: string; metadata: string } {
  const metadata =
    params.metadata === undefined
      ? '{}'
      : typeof params.metadata === 'string'
        ? params.metadata
        : JSON.stringify(params.metadata);
  for (const [field, value, max] of [
    ['description', params.description, MAX_DESCRIPTION_BYTES],
    ['metadata', metadata, MAX_METADATA_BYTES],
  ] as const) {
    const bytes = Buffer.byteLength(value);
    if (bytes > max) {
      throw new NgrokdError(
        'CONFIG_INVALID',
        `operator ${field} is ${bytes} bytes (ngrok allows at most ${max})`,
        `Shorten the operator ${field}.`,
      );
    }
  }
  return { description: params.description, metadata };
}

export class Registration {
  readonly #api: NgrokApi;
  readonly #store: CredentialStore;
  /** When the certificate may be renewed next (renewal.ts). */
  readonly #renewal: RenewalSchedule;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  /** ensureRegistered and logout run one at a time: they read and replace the same files. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RegistrationOptions) {
    this.#api = options.api;
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#renewal = new RenewalSchedule({
      now: this.#now,
      ...(options.random ? { random: options.random } : {}),
    });
    this.#logger = options.logger;
  }

  /**
   * A registration with a usable key and certificate, creating, repairing or renewing it as needed.
   * Call it at start-up and periodically (e.g. daily) so renewal happens in time.
   */
  ensureRegistered(params: RegisterParams): Promise<RegisteredOperator> {
    return this.#serialized(() => this.#ensure(params));
  }

  /** Whether the certificate `cert` (the one in use) should be renewed now. */
  renewalDue(cert: CertificateValidity): boolean {
    return this.#renewal.due(cert);
  }

  /** When `cert` may be renewed next (in the past: now). */
  nextRenewalAt(cert: CertificateValidity): number {
    return this.#renewal.nextAttemptAt(cert);
  }

  /** What the user should know about renewing `cert`: null, a warning, or an error near or past expiry. */
  renewalProblem(cert: CertificateValidity): RenewalProblem | null {
    return this.#renewal.problem(cert);
  }

  /**
   * Delete the registration at ngrok (already gone is fine), then forget it locally. When the API
   * call fails the local state is kept, so signing out can be retried, unless `force` is set.
   * Resolves true when ngrok no longer has it, false when it could not be deleted (`force`) or
   * there was no registration.
   */
  logout(options: { force?: boolean } = {}): Promise<boolean> {
    return this.#serialized(async () => {
      const stored = await this.#store.load();
      let deleted = false;
      if (stored.operator !== undefined) {
        try {
          await this.#api.deleteOperator(stored.operator.id);
          deleted = true;
        } catch (err) {
          if (options.force !== true) throw err;
          this.#logger?.warn(
            { operatorId: stored.operator.id, err: toUserFacing(err) },
            'operator not deleted at ngrok; forgetting it anyway',
          );
        }
      }
      await this.#store.clear();
      return deleted;
    });
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #ensure(params: RegisterParams): Promise<RegisteredOperator> {
    const { description, metadata } = checkedText(params);
    const selectors =
      params.selectors === undefined || params.selectors.length === 0 ? DEFAULT_SELECTORS : params.selectors;
    const stored = await this.#store.load();
    const events: RegistrationEvent[] = [];

    let op: Operator | undefined;
    if (stored.operator !== undefined) {
      op = await this.#api.getOperator(stored.operator.id);
      if (op === undefined) {
        this.#logger?.warn(
          { operatorId: stored.operator.id },
          'operator registration is gone at ngrok; registering again',
        );
        await this.#store.clear();
        events.push('reregistered');
      }
    }

    let pair: KeyPair | undefined;
    if (op === undefined) {
      const fresh = await createKeyAndCsr();
      op = await this.#api.createOperator({
        description,
        metadata,
        enabled_features: ['bindings'],
        region: 'global',
        binding: { endpoint_selectors: [...selectors], csr: fresh.csrPem },
      });
      // The operator is stored first: should we stop before the key is stored, the next run finds
      // the operator without a certificate and asks for one instead of leaking a registration.
      await this.#store.saveOperator(storedFrom(op));
      if (!events.includes('reregistered')) events.push('registered');
      this.#logger?.info({ operatorId: op.id }, 'registered operator');
      pair = await this.#adopt(op, fresh.keyPem);
      if (pair !== undefined) this.#renewal.succeeded(parseCertificate(pair.certPem));
    } else {
      if (stored.keyPem !== undefined && stored.certPem !== undefined)
        pair = { keyPem: stored.keyPem, certPem: stored.certPem };
      const current = storedFrom(op);
      if (JSON.stringify(current) !== JSON.stringify(stored.operator))
        await this.#store.saveOperator(current);
    }
    return this.#converge(op, pair, selectors, events);
  }

  /** Bring certificate and selectors to the wanted state with at most one PATCH. */
  async #converge(
    op: Operator,
    pair: KeyPair | undefined,
    selectors: readonly string[],
    events: RegistrationEvent[],
  ): Promise<RegisteredOperator> {
    const problems: UserFacingError[] = [];
    const remoteSelectors = op.binding?.endpoint_selectors;
    const selectorsChanged = remoteSelectors !== undefined && !sameSelectors(remoteSelectors, selectors);
    const validity = pair === undefined ? undefined : parseCertificate(pair.certPem);
    const notAfter = validity?.notAfter.getTime();
    const now = this.#now();
    const needsCert = validity === undefined || !hasCertificate(op.binding?.cert);
    // Even an expired certificate waits out the backoff: a server that keeps failing (or keeps
    // issuing expired certificates) must not get a PATCH on every pass.
    const needsRenewal = !needsCert && this.#renewal.due(validity);
    /** The pair to fall back on when getting a new certificate fails. */
    const fallback = pair !== undefined && notAfter !== undefined && notAfter > now ? pair : undefined;

    if (pair !== undefined && !needsCert && !needsRenewal) {
      if (selectorsChanged) {
        op = await this.#api.updateOperator(op.id, { binding: { endpoint_selectors: [...selectors] } });
        events.push('selectors-updated');
      }
      return this.#result(op, pair, events, problems);
    }

    const fresh = await createKeyAndCsr();
    let updated: Operator;
    try {
      updated = await this.#api.updateOperator(op.id, {
        binding: { endpoint_selectors: [...selectors], csr: fresh.csrPem },
      });
    } catch (err) {
      if (validity !== undefined) this.#renewal.failed(err, validity);
      if (fallback === undefined) throw err;
      this.#logger?.warn(
        { operatorId: op.id, err: toUserFacing(err) },
        'certificate renewal failed; keeping the current certificate',
      );
      problems.push(toUserFacing(err));
      return this.#result(op, fallback, events, problems);
    }
    if (selectorsChanged) events.push('selectors-updated');

    const adopted = await this.#adopt(updated, fresh.keyPem);
    if (adopted !== undefined) {
      this.#renewal.succeeded(parseCertificate(adopted.certPem));
      events.push(needsRenewal ? 'renewed' : 'certificate-issued');
      this.#logger?.info({ operatorId: op.id, event: events.at(-1) }, 'stored new client certificate');
      return this.#result(updated, adopted, events, problems);
    }

    const issued = updated.binding?.cert;
    const same = pair !== undefined && hasCertificate(issued) && issued.cert.trim() === pair.certPem.trim();
    const problem = new NgrokdError(
      'API_ERROR',
      `ngrok did not issue a new client certificate for operator ${op.id} (${
        !hasCertificate(issued)
          ? 'the response has none'
          : same
            ? 'it returned the current one again'
            : 'the one returned is for another key'
      })`,
      fallback === undefined
        ? 'Sign out and in again to register afresh; if it persists, report it to ngrok support.'
        : `The current certificate stays in use until ${new Date(notAfter ?? 0).toISOString()}; ngrokd retries renewal.`,
    );
    if (validity !== undefined) this.#renewal.failed(problem, validity);
    if (fallback === undefined) throw problem;
    this.#logger?.warn({ operatorId: op.id }, problem.message);
    problems.push(toUserFacing(problem));
    return this.#result(updated, fallback, events, problems);
  }

  /** Store and return the operator's certificate with `keyPem`, when it is one issued for that key. */
  async #adopt(op: Operator, keyPem: string): Promise<KeyPair | undefined> {
    const cert = op.binding?.cert;
    if (!hasCertificate(cert) || !certificateMatchesKey(cert.cert, keyPem)) return undefined;
    await this.#store.saveCredentials(keyPem, cert.cert);
    return { keyPem, certPem: cert.cert };
  }

  #result(
    op: Operator,
    pair: KeyPair,
    events: RegistrationEvent[],
    problems: UserFacingError[],
  ): RegisteredOperator {
    const info = parseCertificate(pair.certPem);
    return {
      operatorId: op.id,
      // One spelling whatever the source (API or disk), so callers can compare pairs across calls.
      keyPem: `${pair.keyPem.trim()}\n`,
      certPem: `${pair.certPem.trim()}\n`,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      ingressEndpoint: normalizeIngress(op.binding?.ingress_endpoint),
      events,
      problems,
    };
  }
}
