/**
 * Client for the slice of the ngrok REST API this app uses (shared/ngrok-protocol.md §1): Kubernetes
 * operator registrations and bound endpoints. It turns every failure into an NgrokdError a user can
 * act on (api-errors.ts), retries only what is safe to retry, follows every page of a list, and
 * never lets the API key leave for another origin or appear in a message or log line.
 *
 * Every request first takes a token from the client-side budget (budget.ts), so this client stays
 * well below ngrok's account-wide 120 requests per minute whatever the caller does. `Retry-After`
 * is honoured everywhere: the retry waits for it, every other request of this client waits for it
 * too (the budget holds), a wait longer than `retry.retryAfterCapMs` ends the request instead and
 * the error carries it (`retryAfterMs`) so the caller's next try comes no sooner. An observer hears
 * of every failed attempt as it happens, not only after the last retry: a hanging API is known
 * after one timeout, not after all of them.
 */
import { z } from 'zod';
import { DEFAULT_API_URL } from '../../common/defaults.ts';
import { NgrokdError } from '../../common/errors.ts';
import type { Logger } from '../log.ts';
import {
  heldBackError,
  httpError,
  invalidResponse,
  NgrokApiError,
  oneLine,
  transportError,
} from './api-errors.ts';
import {
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryDelay,
  sleep as timerSleep,
  type Random,
  type RetryPolicy,
  type Sleep,
} from './backoff.ts';
import { RequestBudget, type BudgetPolicy } from './budget.ts';
import {
  boundEndpointSchema,
  endpointSchema,
  operatorSchema,
  type BoundEndpoint,
  type Endpoint,
  type Operator,
  type OperatorCreate,
  type OperatorUpdate,
} from './schemas.ts';

const DEFAULT_TIMEOUT_MS = 15_000;
/** The API's maximum page size. */
const PAGE_LIMIT = 100;
/** Stops a server that keeps handing out new page links (100,000 items at the maximum page size). */
const MAX_PAGES = 1000;
/** A `Retry-After` beyond this is taken as this much (a sanity bound for a broken header). */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface ApiAttempt {
  method: HttpMethod;
  path: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** In how many ms it is tried again; undefined when this failure ends the request. */
  retryInMs: number | undefined;
}

/** Hears how requests go, attempt by attempt (the reconciler turns it into the `api` problem). */
export interface ApiObserver {
  /** An attempt failed: no answer in time, no connection, or an error answer. Called before the retry wait or the throw. */
  attemptFailed?(failure: NgrokApiError, attempt: ApiAttempt): void;
  /** A request got a 2xx answer (`date`: its `Date` header, for the clock-skew check; null if absent). */
  succeeded?(request: { method: HttpMethod; path: string; status: number; date: string | null }): void;
}

export interface NgrokApiOptions {
  apiKey: string;
  /** Default https://api.ngrok.com; the simulator and tests pass an http://127.0.0.1 URL. */
  baseUrl?: string;
  /** Per attempt. Default 15 s. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  fetch?: typeof fetch;
  sleep?: Sleep;
  random?: Random;
  now?: () => number;
  logger?: Logger;
  /** Aborting it cancels requests, budget and retry waits in flight (daemon shutdown). */
  signal?: AbortSignal;
  /** The client-side request budget; default 60 per minute, burst 20 (budget.ts). */
  budget?: Partial<BudgetPolicy>;
  observer?: ApiObserver;
}

export class NgrokApi {
  readonly baseUrl: URL;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  /** Every request takes a token from it first. */
  readonly budget: RequestBudget;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #sleep: Sleep;
  readonly #random: Random;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #observer: ApiObserver | undefined;

  constructor(options: NgrokApiOptions) {
    if (options.apiKey.trim() === '') {
      throw new NgrokdError(
        'API_KEY_MISSING',
        'the ngrok API key is empty',
        'Create an API key at https://dashboard.ngrok.com/api-keys and set it as NGROK_API_KEY (or in the app settings).',
      );
    }
    const raw = options.baseUrl ?? DEFAULT_API_URL;
    let base: URL;
    try {
      base = new URL(raw);
    } catch (err) {
      throw new NgrokdError(
        'CONFIG_INVALID',
        `api.url ${JSON.stringify(raw)} is not a URL`,
        'Set api.url to https://api.ngrok.com.',
        { cause: err },
      );
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new NgrokdError(
        'CONFIG_INVALID',
        `api.url ${JSON.stringify(raw)} is not an http(s) URL`,
        'Set api.url to https://api.ngrok.com.',
      );
    }
    base.search = '';
    base.hash = '';
    this.baseUrl = base;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? fetch;
    this.#sleep = options.sleep ?? timerSleep;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    this.#signal = options.signal;
    this.#observer = options.observer;
    this.budget = new RequestBudget({
      ...(options.budget === undefined ? {} : { policy: options.budget }),
      now: this.#now,
      sleep: this.#sleep,
    });
  }

  // ---- typed endpoints ----

  async createOperator(body: OperatorCreate): Promise<Operator> {
    return this.#parse(
      operatorSchema,
      await this.request('POST', '/kubernetes_operators', body),
      'POST /kubernetes_operators',
    );
  }

  /** Undefined when the registration is gone (404): the caller registers again. */
  async getOperator(id: string): Promise<Operator | undefined> {
    const path = `/kubernetes_operators/${encodeURIComponent(id)}`;
    try {
      return this.#parse(operatorSchema, await this.request('GET', path), `GET ${path}`);
    } catch (err) {
      if (err instanceof NgrokApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async updateOperator(id: string, body: OperatorUpdate): Promise<Operator> {
    const path = `/kubernetes_operators/${encodeURIComponent(id)}`;
    return this.#parse(operatorSchema, await this.request('PATCH', path, body), `PATCH ${path}`);
  }

  /** Resolves false when there was nothing to delete (404). */
  async deleteOperator(id: string): Promise<boolean> {
    try {
      await this.request('DELETE', `/kubernetes_operators/${encodeURIComponent(id)}`);
      return true;
    } catch (err) {
      if (err instanceof NgrokApiError && err.status === 404) return false;
      throw err;
    }
  }

  listOperators(): Promise<Operator[]> {
    return this.listAll('/kubernetes_operators', 'operators', operatorSchema);
  }

  listBoundEndpoints(operatorId: string): Promise<BoundEndpoint[]> {
    return this.listAll(
      `/kubernetes_operators/${encodeURIComponent(operatorId)}/bound_endpoints`,
      'endpoints',
      boundEndpointSchema,
    );
  }

  listEndpoints(): Promise<Endpoint[]> {
    return this.listAll('/endpoints', 'endpoints', endpointSchema);
  }

  // ---- generic ----

  /**
   * Every item of a paginated list: `limit=100`, then each `next_page_uri` until it is null. A link
   * to another origin is refused (the API key would go with it), and so is a link seen before.
   */
  async listAll<T>(path: string, itemsKey: string, item: z.ZodType<T>): Promise<T[]> {
    const first = this.#resolve(path);
    first.searchParams.set('limit', String(PAGE_LIMIT));
    const page = z
      .object({ [itemsKey]: z.array(item), next_page_uri: z.string().nullish() })
      .transform((body) => ({
        items: body[itemsKey] as T[],
        next: body.next_page_uri as string | null | undefined,
      }));
    const items: T[] = [];
    const seen = new Set<string>();
    let next: URL | undefined = first;
    while (next !== undefined) {
      const what = `GET ${path} (page ${seen.size + 1})`;
      if (seen.has(next.href))
        throw invalidResponse(`${what}: next_page_uri ${next.href} repeats an earlier page`);
      if (seen.size >= MAX_PAGES) throw invalidResponse(`${what}: more than ${MAX_PAGES} pages`);
      seen.add(next.href);
      const data: { items: T[]; next: string | null | undefined } = this.#parse(
        page,
        await this.#call('GET', next),
        what,
      );
      items.push(...data.items);
      next = data.next ? this.#pageLink(data.next, what) : undefined;
    }
    return items;
  }

  /** One request with retries; resolves the parsed JSON body (undefined for an empty one). */
  request(method: HttpMethod, path: string, body?: unknown): Promise<unknown> {
    return this.#call(method, this.#resolve(path), body);
  }

  // ---- internals ----

  #resolve(path: string): URL {
    if (!path.startsWith('/')) throw new Error(`API path must start with "/": ${path}`);
    const url = new URL(this.baseUrl.href);
    const query = path.indexOf('?');
    url.pathname = this.baseUrl.pathname.replace(/\/+$/, '') + (query === -1 ? path : path.slice(0, query));
    if (query !== -1) url.search = path.slice(query);
    return url;
  }

  #pageLink(link: string, what: string): URL {
    let url: URL;
    try {
      url = new URL(link, this.baseUrl);
    } catch {
      throw invalidResponse(`${what}: next_page_uri ${JSON.stringify(link)} is not a URL`);
    }
    if (url.origin !== this.baseUrl.origin) {
      throw new NgrokApiError(
        'API_ERROR',
        `refusing to follow next_page_uri ${url.origin}${url.pathname} from ${what}: it is not on ${this.baseUrl.origin}, and following it would send the API key there`,
        'Check api.url points at the real ngrok API (https://api.ngrok.com).',
        { status: undefined, retryClass: 'none' },
      );
    }
    return url;
  }

  #parse<T>(schema: z.ZodType<T>, data: unknown, what: string): T {
    const result = schema.safeParse(data);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
    throw invalidResponse(`${what}: unexpected response (${where}: ${issue?.message ?? 'invalid'})`);
  }

  #redact(text: string): string {
    return text.split(this.#apiKey).join('[redacted]');
  }

  async #call(method: HttpMethod, url: URL, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#apiKey}`,
      'Ngrok-Version': '2',
      Accept: 'application/json',
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const what = `${method} ${url.pathname}`;

    for (let attempt = 1; ; attempt++) {
      // ngrok asked this client to wait longer than a request may: the caller's next try waits it out.
      const heldFor = this.budget.heldUntil - this.#now();
      if (heldFor > this.retry.retryAfterCapMs) throw heldBackError(what, heldFor);
      await this.budget.take(this.#signal);
      let failure: NgrokApiError;
      let retryAfterMs: number | undefined;
      const timeout = AbortSignal.timeout(this.timeoutMs);
      const signal = this.#signal === undefined ? timeout : AbortSignal.any([timeout, this.#signal]);
      try {
        const response = await this.#fetch(url, { method, headers, body: payload, signal });
        const text = await response.text();
        this.#logger?.debug(
          { method, path: url.pathname, status: response.status, attempt },
          'ngrok API request',
        );
        if (response.ok) {
          const date = response.headers.get('date');
          const { status } = response;
          this.#notify(() => this.#observer?.succeeded?.({ method, path: url.pathname, status, date }));
          return this.#json(text, what);
        }
        const asked = parseRetryAfter(response.headers.get('retry-after'), this.#now());
        retryAfterMs = asked === undefined ? undefined : Math.min(asked, MAX_RETRY_AFTER_MS);
        failure = httpError(what, response.status, text, {
          origin: this.baseUrl.origin,
          redact: (message) => this.#redact(message),
          retryAfterMs,
        });
      } catch (err) {
        if (err instanceof NgrokApiError) throw err;
        if (this.#signal?.aborted) throw this.#signal.reason;
        failure = transportError(url, err, {
          timedOut: timeout.aborted,
          timeoutMs: this.timeoutMs,
          redact: (message) => this.#redact(message),
        });
      }
      // Every request of this client waits for the time ngrok asked for, not only this one.
      if (retryAfterMs !== undefined) this.budget.holdUntil(this.#now() + retryAfterMs);
      const retryable =
        (failure.retryClass === 'throttled' || (failure.retryClass === 'unavailable' && method !== 'POST')) &&
        attempt < this.retry.attempts &&
        (retryAfterMs === undefined || retryAfterMs <= this.retry.retryAfterCapMs);
      const delay = retryable ? retryDelay(attempt - 1, retryAfterMs, this.retry, this.#random) : undefined;
      this.#notify(() =>
        this.#observer?.attemptFailed?.(failure, { method, path: url.pathname, attempt, retryInMs: delay }),
      );
      if (delay === undefined) throw failure;
      this.#logger?.warn(
        { method, path: url.pathname, attempt, delayMs: delay, code: failure.code },
        'ngrok API retry',
      );
      // A Retry-After is waited out in the budget (its hold) when the next attempt takes its token.
      if (retryAfterMs === undefined) await this.#sleep(delay, this.#signal);
    }
  }

  /** An observer that throws must not fail the request it was told about. */
  #notify(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.#logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'API observer failed');
    }
  }

  #json(text: string, what: string): unknown {
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw invalidResponse(
        `${what}: response is not JSON (${JSON.stringify(oneLine(this.#redact(text), 80))})`,
      );
    }
  }
}
