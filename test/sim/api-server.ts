/**
 * Fake ngrok REST API (shared/ngrok-protocol.md §1) over plain HTTP on loopback: Bearer auth,
 * `Ngrok-Version: 2`, ngrok's error body, operators with CSR signing, bound endpoint discovery and
 * `limit`/`before_id` pagination with full-URL `next_page_uri`. Test controls are plain methods.
 *
 * Faults (§1, §5): injected failures (any status and ngrok code, `Retry-After` in seconds, as an
 * HTTP date or absent), requests that hang (accepted, never answered), failing renewals (PATCHes
 * carrying a CSR), ngrok's per-account budget (429 ERR_NGROK_226 beyond N requests per rolling
 * 60 s) and a limit of simultaneous requests (429 ERR_NGROK_225). Certificates have a configurable
 * lifetime, down to seconds; the clock is injectable, so a test can run the API in virtual time.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEndpointUrl, PROTOS } from '../../main/common/endpoint-url.ts';
import type { Proto } from '../../main/common/endpoint-url.ts';
import { InvalidCsrError, signCsr } from './ca.ts';
import type { CertificateAuthority } from './ca.ts';
import { closeServer, defaultBackend, listen } from './backends.ts';
import type { BackendTarget } from './backends.ts';

const DAY_S = 86_400;
const MAX_PAGE = 100;
const MAX_BODY = 1024 * 1024;
/** The simulator's own codes for body validation; the real ones are not documented. */
const ERR_INVALID_FIELD = 'ERR_NGROK_19003';
const ERR_INVALID_CSR = 'ERR_NGROK_19004';
const KNOWN_FEATURES = ['bindings', 'ingress', 'gateway'];
const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface SimEndpointInput {
  url: string;
  id?: string;
  /** Defaults to true when another endpoint already has this URL. */
  pooling?: boolean;
  backend?: BackendTarget;
  /** Defaults to ["kubernetes"] (a bound endpoint). */
  bindings?: string[];
  description?: string;
  metadata?: string;
  name?: string;
}

export interface SimEndpoint {
  id: string;
  url: string;
  proto: string;
  host: string;
  port: number;
  pooling: boolean;
  backend: BackendTarget;
  bindings: string[];
  description: string;
  metadata: string;
  name: string;
  createdAt: string;
  seq: number;
}

export interface SimOperator {
  id: string;
  seq: number;
  createdAt: string;
  updatedAt: string;
  description: string;
  metadata: string;
  enabledFeatures: string[];
  region: string;
  endpointSelectors: string[];
  /** Base64 body of the last CSR signed; a PATCH with the same CSR keeps the cert. */
  csrKey: string | null;
  cert: { certPem: string; notBefore: string; notAfter: string } | null;
  certsIssued: number;
}

export interface InjectedFailure {
  /** Default 500; ignored with `hang`. */
  status?: number;
  /** Accept the request and never answer it (until the server closes). */
  hang?: boolean;
  /** Defaults by status: 429 → ERR_NGROK_226, otherwise ERR_NGROK_<status>. */
  errorCode?: string;
  msg?: string;
  /** Sent as `Retry-After: <seconds>`. */
  retryAfterSeconds?: number;
  /** Sent as `Retry-After: <HTTP date>` (wins over retryAfterSeconds). */
  retryAfterDate?: Date;
  /** Only requests whose path starts with one of these (default: every request). */
  paths?: string[];
  methods?: string[];
  /** Only certificate renewals: PATCHes whose body carries `binding.csr`. */
  renewalsOnly?: boolean;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  query: string;
  /** 0 while unanswered (a hanging request stays 0). */
  status: number;
  at: number;
}

/** Which URL fields endpoint objects carry, to check that clients read `url` then `public_url`. */
export type EndpointUrlFields = 'both' | 'url' | 'public_url';

export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function newId(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `${prefix}_${[...randomBytes(27)].map((b) => alphabet[b % alphabet.length]).join('')}`;
}

/** Host and port of an endpoint URL; lenient so tests can serve URLs a client must reject. */
function endpointAddress(url: string): { proto: string; host: string; port: number } {
  try {
    const a = parseEndpointUrl(url);
    return { proto: a.proto, host: a.hostname, port: a.port };
  } catch {
    const m = /^([a-zA-Z]+):\/\/([^:/]*)(?::([0-9]+))?/.exec(url);
    const proto = (m?.[1] ?? '').toLowerCase();
    return { proto, host: (m?.[2] ?? '').toLowerCase(), port: Number(m?.[3] ?? 0) };
  }
}

/** Endpoints shared by the API (listing) and the ingress (routing by host and port). */
export class EndpointStore {
  /** Insertion order = creation order. */
  private readonly byId = new Map<string, SimEndpoint>();
  private readonly byHostPort = new Map<string, SimEndpoint[]>();
  /** Every id ever seen, so `before_id` keeps working after the endpoint is removed. */
  readonly seqOf = new Map<string, number>();
  private seq = 0;

  add(input: SimEndpointInput): SimEndpoint {
    const { proto, host, port } = endpointAddress(input.url);
    const id = input.id ?? newId('ep');
    this.remove(id);
    const key = `${host}:${port}`;
    const group = this.byHostPort.get(key) ?? [];
    const endpoint: SimEndpoint = {
      id,
      url: input.url,
      proto,
      host,
      port,
      pooling: input.pooling ?? group.length > 0,
      backend:
        input.backend ??
        ((PROTOS as readonly string[]).includes(proto) ? defaultBackend(proto as Proto) : 'echo'),
      bindings: input.bindings ?? ['kubernetes'],
      description: input.description ?? '',
      metadata: input.metadata ?? '',
      name: input.name ?? '',
      createdAt: rfc3339(new Date()),
      seq: ++this.seq,
    };
    this.byId.set(endpoint.id, endpoint);
    this.seqOf.set(endpoint.id, endpoint.seq);
    group.push(endpoint);
    this.byHostPort.set(key, group);
    return endpoint;
  }

  remove(id: string): boolean {
    const endpoint = this.byId.get(id);
    if (endpoint === undefined) return false;
    this.byId.delete(id);
    const key = `${endpoint.host}:${endpoint.port}`;
    const rest = (this.byHostPort.get(key) ?? []).filter((e) => e.id !== id);
    if (rest.length === 0) this.byHostPort.delete(key);
    else this.byHostPort.set(key, rest);
    return true;
  }

  /** Replace every endpoint at once. */
  set(inputs: SimEndpointInput[]): SimEndpoint[] {
    this.byId.clear();
    this.byHostPort.clear();
    return inputs.map((input) => this.add(input));
  }

  get(id: string): SimEndpoint | undefined {
    return this.byId.get(id);
  }

  /** The endpoints (several when pooled) serving `host:port`. */
  lookup(host: string, port: number): SimEndpoint[] {
    return this.byHostPort.get(`${host.toLowerCase()}:${port}`) ?? [];
  }

  newestFirst(): SimEndpoint[] {
    return [...this.byId.values()].reverse();
  }

  get size(): number {
    return this.byId.size;
  }
}

class ApiFailure extends Error {
  readonly status: number;
  readonly errorCode: string;
  readonly headers: Record<string, string>;
  constructor(status: number, errorCode: string, msg: string, headers: Record<string, string> = {}) {
    super(msg);
    this.status = status;
    this.errorCode = errorCode;
    this.headers = headers;
  }
}

const invalid = (msg: string): ApiFailure => new ApiFailure(400, ERR_INVALID_FIELD, msg);

interface Reply {
  status: number;
  body?: unknown;
}

interface OperatorBody {
  description?: string;
  metadata?: string;
  enabledFeatures?: string[];
  region?: string;
  endpointSelectors?: string[];
  csr?: string;
}

function optionalString(body: Record<string, unknown>, field: string, maxBytes: number): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  if (Buffer.byteLength(value) > maxBytes)
    throw invalid(`${field} is ${Buffer.byteLength(value)} bytes, at most ${maxBytes} allowed`);
  return value;
}

function optionalStrings(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw invalid(`${field} must be a list of strings`);
  return value as string[];
}

function parseOperatorBody(raw: unknown): OperatorBody {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw invalid('body must be a JSON object');
  const body = raw as Record<string, unknown>;
  const out: OperatorBody = {
    description: optionalString(body, 'description', 255),
    metadata: optionalString(body, 'metadata', 4096),
    region: optionalString(body, 'region', 64),
    enabledFeatures: optionalStrings(body.enabled_features, 'enabled_features'),
  };
  for (const feature of out.enabledFeatures ?? [])
    if (!KNOWN_FEATURES.includes(feature))
      throw invalid(`enabled_features contains unknown feature ${JSON.stringify(feature)}`);
  const binding = body.binding;
  if (binding !== undefined && binding !== null) {
    if (typeof binding !== 'object' || Array.isArray(binding)) throw invalid('binding must be an object');
    const b = binding as Record<string, unknown>;
    out.endpointSelectors = optionalStrings(b.endpoint_selectors, 'binding.endpoint_selectors');
    if (b.csr !== undefined) {
      if (typeof b.csr !== 'string') throw invalid('binding.csr must be a string');
      out.csr = b.csr;
    }
  }
  return out;
}

function csrKey(csrPem: string): string {
  return csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
}

export interface ApiServerOptions {
  apiKey: string;
  /** Signs operator CSRs; the ingress trusts it for client certificates. */
  clientCa: CertificateAuthority;
  store?: EndpointStore;
  /** What operators get in `binding.ingress_endpoint`. */
  ingressEndpoint?: string;
  certLifetimeDays?: number;
  /** Wins over certLifetimeDays. */
  certLifetimeSeconds?: number;
  /** Enforce ngrok's per-account budget (120 per rolling 60 s); off by default. */
  rateLimitPerMinute?: number;
  /** More requests in flight than this are refused with 429 ERR_NGROK_225; off by default. */
  maxConcurrentRequests?: number;
  delayMs?: number;
  /** The clock of the request log, the rate limit and certificate validity; default Date.now. */
  now?: () => number;
}

export class ApiServer {
  url = '';
  apiKey: string;
  readonly store: EndpointStore;
  ingressEndpoint: string;
  /** Lifetime of certificates issued from now on (fractional and negative values allowed). */
  certLifetimeSeconds: number;
  rateLimitPerMinute: number | undefined;
  maxConcurrentRequests: number | undefined;
  readonly now: () => number;
  /** Latency added to every request. */
  delayMs: number;
  endpointUrlFields: EndpointUrlFields = 'both';
  /** Added to the time in every answer's `Date` header (a server clock ahead, or behind when negative). */
  dateOffsetMs = 0;
  readonly operators = new Map<string, SimOperator>();
  readonly requestLog: RequestLogEntry[] = [];
  private readonly clientCa: CertificateAuthority;
  private operatorSeq = 0;
  private readonly failures: { remaining: number; failure: InjectedFailure }[] = [];
  private readonly server: http.Server;
  private inFlight = 0;

  constructor(options: ApiServerOptions) {
    this.apiKey = options.apiKey;
    this.clientCa = options.clientCa;
    this.store = options.store ?? new EndpointStore();
    this.ingressEndpoint = options.ingressEndpoint ?? 'kubernetes-binding-ingress.ngrok.io:443';
    this.certLifetimeSeconds = options.certLifetimeSeconds ?? (options.certLifetimeDays ?? 365) * DAY_S;
    this.rateLimitPerMinute = options.rateLimitPerMinute;
    this.maxConcurrentRequests = options.maxConcurrentRequests;
    this.now = options.now ?? Date.now;
    this.delayMs = options.delayMs ?? 0;
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** certLifetimeSeconds in days. */
  get certLifetimeDays(): number {
    return this.certLifetimeSeconds / DAY_S;
  }

  set certLifetimeDays(days: number) {
    this.certLifetimeSeconds = days * DAY_S;
  }

  static async start(options: ApiServerOptions): Promise<ApiServer> {
    const api = new ApiServer(options);
    api.url = `http://127.0.0.1:${await listen(api.server)}`;
    return api;
  }

  // ---- test controls -----------------------------------------------------------------------------

  addEndpoint(input: SimEndpointInput): SimEndpoint {
    return this.store.add(input);
  }

  removeEndpoint(id: string): boolean {
    return this.store.remove(id);
  }

  setEndpoints(inputs: SimEndpointInput[]): SimEndpoint[] {
    return this.store.set(inputs);
  }

  /** Make the next `n` matching requests fail with `failure`. */
  injectFailures(n: number, failure: InjectedFailure): void {
    this.failures.push({ remaining: n, failure });
  }

  clearFailures(): void {
    this.failures.length = 0;
  }

  /** Requests received in the rolling 60 s before `now` (what ngrok's rate limit counts). */
  requestsInLastMinute(now = this.now()): number {
    let count = 0;
    for (
      let i = this.requestLog.length - 1;
      i >= 0 && (this.requestLog[i] as RequestLogEntry).at > now - 60_000;
      i--
    )
      count++;
    return count;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await closeServer(this.server);
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', this.url);
    const entry: RequestLogEntry = {
      method: req.method ?? '',
      path: target.pathname,
      query: target.search,
      status: 0,
      at: this.now(),
    };
    this.requestLog.push(entry);
    this.inFlight++;
    res.once('close', () => this.inFlight--);
    let reply: Reply | 'hang';
    let headers: Record<string, string> = {};
    try {
      const raw = await readBody(req);
      if (this.delayMs > 0) await sleep(this.delayMs);
      reply = await this.route(req, target, raw);
    } catch (err) {
      const failure =
        err instanceof ApiFailure
          ? err
          : new ApiFailure(500, 'ERR_NGROK_500', `internal error: ${String(err)}`);
      headers = failure.headers;
      reply = {
        status: failure.status,
        body: {
          error_code: failure.errorCode,
          status_code: failure.status,
          msg: failure.message,
          details: { operation_id: newId('op') },
        },
      };
    }
    if (reply === 'hang') return; // accepted, never answered: the client's timeout is the test
    entry.status = reply.status;
    headers = { ...headers, date: new Date(Date.now() + this.dateOffsetMs).toUTCString() };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
    } else {
      const json = JSON.stringify(reply.body);
      res.writeHead(reply.status, { ...headers, 'content-type': 'application/json' }).end(json);
    }
  }

  private async route(req: http.IncomingMessage, target: URL, raw: string): Promise<Reply | 'hang'> {
    const auth = req.headers.authorization;
    if (auth === undefined || auth === '')
      throw new ApiFailure(
        401,
        'ERR_NGROK_200',
        'Missing Authorization header: send "Authorization: Bearer <API key>".',
      );
    if (auth !== `Bearer ${this.apiKey}`)
      throw new ApiFailure(401, 'ERR_NGROK_201', 'The API key in the Authorization header is not valid.');
    const version = req.headers['ngrok-version'];
    if (version !== '2')
      throw new ApiFailure(
        400,
        'ERR_NGROK_218',
        version === undefined
          ? 'Missing Ngrok-Version header.'
          : `Unsupported Ngrok-Version ${JSON.stringify(version)}.`,
      );
    if (this.rateLimitPerMinute !== undefined && this.requestsInLastMinute() > this.rateLimitPerMinute)
      throw rateLimited(undefined);
    if (this.maxConcurrentRequests !== undefined && this.inFlight > this.maxConcurrentRequests)
      throw new ApiFailure(429, 'ERR_NGROK_225', defaultMessage('ERR_NGROK_225', 429));
    if (this.failInjected(req.method ?? '', target.pathname, raw) === 'hang') return 'hang';

    const method = req.method ?? '';
    const parts = target.pathname.split('/').filter((p) => p !== '');
    const body = (): unknown => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        throw invalid('request body is not valid JSON');
      }
    };
    if (parts[0] === 'kubernetes_operators') {
      const id = parts[1];
      if (parts.length === 1 && method === 'GET') return this.listOperators(target);
      if (parts.length === 1 && method === 'POST') return this.createOperator(body());
      const operator = id === undefined ? undefined : this.operators.get(id);
      if (parts.length <= 3 && operator === undefined)
        throw new ApiFailure(404, 'ERR_NGROK_404', `Kubernetes operator ${JSON.stringify(id)} not found.`);
      if (operator !== undefined && parts.length === 2) {
        if (method === 'GET') return { status: 200, body: this.renderOperator(operator) };
        if (method === 'PATCH') return this.updateOperator(operator, body());
        if (method === 'DELETE') {
          this.operators.delete(operator.id);
          return { status: 204 };
        }
      }
      if (
        operator !== undefined &&
        parts.length === 3 &&
        parts[2] === 'bound_endpoints' &&
        method === 'GET'
      ) {
        const bound = operator.enabledFeatures.includes('bindings')
          ? this.store.newestFirst().filter((e) => e.bindings.includes('kubernetes'))
          : [];
        return this.listEndpoints(target, bound);
      }
    } else if (parts[0] === 'endpoints' && method === 'GET') {
      if (parts.length === 1) return this.listEndpoints(target, this.store.newestFirst());
      const endpoint = parts.length === 2 ? this.store.get(parts[1] ?? '') : undefined;
      if (endpoint !== undefined) return { status: 200, body: this.renderEndpoint(endpoint) };
      throw new ApiFailure(404, 'ERR_NGROK_404', `Endpoint ${JSON.stringify(parts[1])} not found.`);
    }
    throw new ApiFailure(404, 'ERR_NGROK_404', `No such API route: ${method} ${target.pathname}`);
  }

  /** Throws the next matching injected failure, or says to hang; returns when none matches. */
  private failInjected(method: string, path: string, raw: string): 'hang' | undefined {
    const renewal = method === 'PATCH' && carriesCsr(raw);
    const match = this.failures.find(
      ({ remaining, failure }) =>
        remaining > 0 &&
        (failure.paths === undefined || failure.paths.some((p) => path.startsWith(p))) &&
        (failure.methods === undefined || failure.methods.includes(method)) &&
        (failure.renewalsOnly !== true || renewal),
    );
    if (match === undefined) return undefined;
    match.remaining--;
    const f = match.failure;
    if (f.hang === true) return 'hang';
    const status = f.status ?? 500;
    const retryAfter =
      f.retryAfterDate !== undefined
        ? f.retryAfterDate.toUTCString()
        : f.retryAfterSeconds === undefined
          ? undefined
          : String(f.retryAfterSeconds);
    if (status === 429 && f.errorCode === undefined && f.msg === undefined) throw rateLimited(retryAfter);
    const headers: Record<string, string> = retryAfter === undefined ? {} : { 'retry-after': retryAfter };
    const code = f.errorCode ?? (status === 429 ? 'ERR_NGROK_226' : `ERR_NGROK_${status}`);
    throw new ApiFailure(status, code, f.msg ?? defaultMessage(code, status), headers);
  }

  // ---- operators ---------------------------------------------------------------------------------

  private async createOperator(raw: unknown): Promise<Reply> {
    const body = parseOperatorBody(raw);
    const now = rfc3339(new Date(this.now()));
    const operator: SimOperator = {
      id: newId('k8sop'),
      seq: ++this.operatorSeq,
      createdAt: now,
      updatedAt: now,
      description: body.description ?? '',
      metadata: body.metadata ?? '',
      enabledFeatures: body.enabledFeatures ?? [],
      region: body.region ?? 'global',
      endpointSelectors: body.endpointSelectors ?? ['true'],
      csrKey: null,
      cert: null,
      certsIssued: 0,
    };
    if (operator.enabledFeatures.includes('bindings') && body.csr === undefined)
      throw invalid('binding.csr is required when enabled_features contains "bindings"');
    if (body.csr !== undefined) await this.issueCert(operator, body.csr);
    this.operators.set(operator.id, operator);
    return { status: 201, body: this.renderOperator(operator) };
  }

  private async updateOperator(operator: SimOperator, raw: unknown): Promise<Reply> {
    const body = parseOperatorBody(raw);
    const next: SimOperator = {
      ...operator,
      description: body.description ?? operator.description,
      metadata: body.metadata ?? operator.metadata,
      enabledFeatures: body.enabledFeatures ?? operator.enabledFeatures,
      region: body.region ?? operator.region,
      endpointSelectors: body.endpointSelectors ?? operator.endpointSelectors,
      updatedAt: rfc3339(new Date(this.now())),
    };
    if (body.csr !== undefined) await this.issueCert(next, body.csr);
    Object.assign(operator, next);
    return { status: 200, body: this.renderOperator(operator) };
  }

  /** Sign the CSR unless it is the one already signed (then the existing cert stays). */
  private async issueCert(operator: SimOperator, csrPem: string): Promise<void> {
    const key = csrKey(csrPem);
    if (operator.cert !== null && operator.csrKey === key) return;
    const now = this.now();
    const notBefore = new Date(Math.floor((now - 60_000) / 1000) * 1000);
    const notAfter = new Date(Math.floor((now + this.certLifetimeSeconds * 1000) / 1000) * 1000);
    try {
      const { certPem } = await signCsr(this.clientCa, csrPem, {
        notBefore,
        notAfter,
        subject: `CN=${operator.id}`,
      });
      operator.cert = { certPem, notBefore: rfc3339(notBefore), notAfter: rfc3339(notAfter) };
      operator.csrKey = key;
      operator.certsIssued++;
    } catch (err) {
      if (err instanceof InvalidCsrError)
        throw new ApiFailure(400, ERR_INVALID_CSR, `binding.${err.message}`);
      throw err;
    }
  }

  private renderOperator(o: SimOperator): Record<string, unknown> {
    return {
      id: o.id,
      uri: `${this.url}/kubernetes_operators/${o.id}`,
      created_at: o.createdAt,
      updated_at: o.updatedAt,
      description: o.description,
      metadata: o.metadata,
      enabled_features: o.enabledFeatures,
      region: o.region,
      binding: o.enabledFeatures.includes('bindings')
        ? {
            endpoint_selectors: o.endpointSelectors,
            cert: {
              cert: o.cert?.certPem ?? '',
              not_before: o.cert?.notBefore ?? ZERO_TIME,
              not_after: o.cert?.notAfter ?? ZERO_TIME,
            },
            ingress_endpoint: this.ingressEndpoint,
          }
        : null,
    };
  }

  private listOperators(target: URL): Reply {
    const newestFirst = [...this.operators.values()].sort((a, b) => b.seq - a.seq);
    const seqOf = (id: string): number | undefined => this.operators.get(id)?.seq;
    const { items, nextPageUri } = this.paginate(target, newestFirst, seqOf);
    return {
      status: 200,
      body: {
        operators: items.map((o) => this.renderOperator(o)),
        uri: `${this.url}${target.pathname}`,
        next_page_uri: nextPageUri,
      },
    };
  }

  // ---- endpoints ---------------------------------------------------------------------------------

  private listEndpoints(target: URL, newestFirst: SimEndpoint[]): Reply {
    const { items, nextPageUri } = this.paginate(target, newestFirst, (id) => this.store.seqOf.get(id));
    const rendered = items.map((e) => this.renderEndpoint(e));
    return {
      status: 200,
      body: { endpoints: rendered, uri: `${this.url}${target.pathname}`, next_page_uri: nextPageUri },
    };
  }

  private renderEndpoint(e: SimEndpoint): Record<string, unknown> {
    const pooled = this.store.lookup(e.host, e.port).length > 1;
    return {
      id: e.id,
      region: 'global',
      created_at: e.createdAt,
      updated_at: e.createdAt,
      ...(this.endpointUrlFields === 'public_url' ? {} : { url: e.url }),
      ...(this.endpointUrlFields === 'url' ? {} : { public_url: e.url }),
      proto: e.proto,
      hostport: `${e.host}:${e.port}`,
      host: e.host,
      port: e.port,
      type: 'cloud',
      metadata: e.metadata,
      description: e.description,
      bindings: e.bindings,
      uri: `${this.url}/endpoints/${e.id}`,
      name: e.name,
      pooling_enabled: e.pooling || pooled,
    };
  }

  /** Newest first; `before_id` continues after that item; at most 100 per page. */
  private paginate<T extends { id: string; seq: number }>(
    target: URL,
    newestFirst: T[],
    seqOf: (id: string) => number | undefined,
  ): { items: T[]; nextPageUri: string | null } {
    const limitParam = target.searchParams.get('limit');
    let limit = MAX_PAGE;
    if (limitParam !== null && limitParam !== '') {
      limit = Number(limitParam);
      if (!Number.isInteger(limit) || limit < 1)
        throw invalid(`limit ${JSON.stringify(limitParam)} is not a positive integer`);
      limit = Math.min(limit, MAX_PAGE);
    }
    let candidates = newestFirst;
    const beforeId = target.searchParams.get('before_id');
    if (beforeId !== null && beforeId !== '') {
      const before = seqOf(beforeId);
      if (before === undefined) throw invalid(`before_id ${JSON.stringify(beforeId)} is not a known id`);
      candidates = newestFirst.filter((item) => item.seq < before);
    }
    const items = candidates.slice(0, limit);
    const last = items[items.length - 1];
    const nextPageUri =
      candidates.length > limit && last !== undefined
        ? `${this.url}${target.pathname}?before_id=${encodeURIComponent(last.id)}&limit=${limit}`
        : null;
    return { items, nextPageUri };
  }
}

/** 429 ERR_NGROK_226, with `Retry-After: retryAfter` when given. */
function rateLimited(retryAfter: string | undefined): ApiFailure {
  return new ApiFailure(
    429,
    'ERR_NGROK_226',
    defaultMessage('ERR_NGROK_226', 429),
    retryAfter === undefined ? {} : { 'retry-after': retryAfter },
  );
}

/** Whether a request body is an operator update with `binding.csr` (a certificate renewal). */
function carriesCsr(raw: string): boolean {
  try {
    const body = JSON.parse(raw) as { binding?: { csr?: unknown } } | null;
    return typeof body?.binding?.csr === 'string';
  } catch {
    return false;
  }
}

function defaultMessage(code: string, status: number): string {
  if (code === 'ERR_NGROK_226')
    return 'You have exceeded the API rate limit of 120 requests per 60 seconds for your account.';
  if (code === 'ERR_NGROK_225') return 'You have too many simultaneous API requests in flight.';
  if (code === 'ERR_NGROK_20006') return 'The certificate signing request could not be signed.';
  if (code === 'ERR_NGROK_19002')
    return 'Kubernetes Operators and Bindings are not enabled for this account.';
  if (status === 503) return 'The service is temporarily unavailable.';
  return `Simulated failure (HTTP ${status}).`;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ApiFailure(413, 'ERR_NGROK_413', `request body exceeds ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
