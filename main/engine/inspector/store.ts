/**
 * The request inspector's memory: the recent requests of every http endpoint, bounded three ways
 * (per endpoint, for all endpoints, and the bytes of captured bodies), never written to disk. The
 * recorder (recorder.ts) adds a request once it is complete; the contract's `requests`, `request`
 * and `replay` read it. Secrets never reach it: headers are redacted as they are recorded.
 */
import {
  REDACTED,
  type CapturedBody,
  type RequestDetail,
  type RequestRecord,
} from '../../common/contract.ts';

export const DEFAULT_INSPECT = {
  perEndpoint: 1000,
  maxRecords: 10_000,
  maxBodyBytes: 64 * 1024,
} as const;

/** Bodies kept for all requests together; past it the oldest requests lose theirs. */
export const DEFAULT_TOTAL_BODY_BYTES = 32 * 1024 * 1024;

/** Always redacted: credentials and session cookies (RFC 9110 §11.6, RFC 6265). */
export const ALWAYS_REDACTED = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'] as const;

export interface RequestStoreOptions {
  perEndpoint?: number;
  maxRecords?: number;
  /** Capture bodies (the recorder asks); each up to maxBodyBytes. */
  captureBodies?: boolean;
  maxBodyBytes?: number;
  totalBodyBytes?: number;
  /** Header names redacted besides ALWAYS_REDACTED (any case). */
  redactHeaders?: readonly string[];
}

/** A captured body as kept: the bytes (up to the cap) and how many there were. */
export interface BodyCapture {
  bytes: Buffer;
  size: number;
}

/**
 * A complete request as the recorder hands it over: one flat object (it is made for every request,
 * so nothing here is built twice); records and details are derived from it when read.
 */
export interface StoredRequest {
  id: number;
  /** Epoch ms the request started. */
  tsMs: number;
  endpoint: string;
  url: string;
  method: string;
  path: string;
  status: number | null;
  duration_ms: number;
  bytes_out: number;
  bytes_in: number;
  connection_id: number;
  kind: RequestDetail['kind'];
  error: string | null;
  replay_of: number | null;
  http_version: string;
  /**
   * Name, value, name, value… joined by `\n` (which no header name or value contains), already
   * redacted: one string per direction, so a kept request is a handful of objects for the GC.
   */
  requestHeaders: string;
  responseHeaders: string;
  requestBody: BodyCapture | null;
  responseBody: BodyCapture | null;
  /** The request head as received, unredacted (only with bodies captured): what a replay sends. */
  rawHead: Buffer | null;
}

interface Entry extends StoredRequest {
  replayable: boolean;
}

function recordOf(e: Entry): RequestRecord {
  return {
    id: e.id,
    ts: new Date(e.tsMs).toISOString(),
    endpoint: e.endpoint,
    url: e.url,
    method: e.method,
    path: e.path,
    status: e.status,
    duration_ms: e.duration_ms,
    bytes_out: e.bytes_out,
    bytes_in: e.bytes_in,
    connection_id: e.connection_id,
    kind: e.kind,
    error: e.error,
    replay_of: e.replay_of,
    replayable: e.replayable,
  };
}

function pairs(joined: string): [string, string][] {
  if (joined === '') return [];
  const flat = joined.split('\n');
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

/** A flat name, value… list as kept (see StoredRequest). */
export function joinHeaders(flat: readonly string[]): string {
  return flat.join('\n');
}

type Waiter = () => void;

export class RequestStore {
  readonly captureBodies: boolean;
  readonly maxBodyBytes: number;
  readonly #perEndpoint: number;
  readonly #maxRecords: number;
  readonly #totalBodyBytes: number;
  readonly #redacted: ReadonlySet<string>;
  /** The lengths of the redacted names: most header names are rejected without lowercasing. */
  readonly #redactedLengths: ReadonlySet<number>;
  /** Every request kept, by id; insertion order is id order (oldest first). */
  readonly #entries = new Map<number, Entry>();
  /** Ids per endpoint URL, oldest first. */
  readonly #byEndpoint = new Map<string, number[]>();
  #bodyBytes = 0;
  #nextId = 1;
  #nextConnection = 1;
  #waiters = new Set<Waiter>();
  /** Local client ports of replays under way → the id they replay. */
  readonly #replays = new Map<number, number>();

  constructor(options: RequestStoreOptions = {}) {
    this.#perEndpoint = options.perEndpoint ?? DEFAULT_INSPECT.perEndpoint;
    this.#maxRecords = options.maxRecords ?? DEFAULT_INSPECT.maxRecords;
    this.captureBodies = options.captureBodies ?? false;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_INSPECT.maxBodyBytes;
    this.#totalBodyBytes = options.totalBodyBytes ?? DEFAULT_TOTAL_BODY_BYTES;
    this.#redacted = new Set([
      ...ALWAYS_REDACTED,
      ...(options.redactHeaders ?? []).map((h) => h.toLowerCase()),
    ]);
    this.#redactedLengths = new Set([...this.#redacted].map((h) => h.length));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The id of the last request kept (0 before the first). */
  get lastId(): number {
    return this.#nextId - 1;
  }

  isRedacted(name: string): boolean {
    return this.#redactedLengths.has(name.length) && this.#redacted.has(name.toLowerCase());
  }

  /** Replace the values of redacted headers in a flat name, value… list, in place. */
  redact(flat: string[]): string[] {
    for (let i = 0; i + 1 < flat.length; i += 2)
      if (this.isRedacted(flat[i] as string)) flat[i + 1] = REDACTED;
    return flat;
  }

  nextId(): number {
    return this.#nextId++;
  }

  nextConnectionId(): number {
    return this.#nextConnection++;
  }

  /** A replay of `id` is about to connect from local port `port` (its record gets `replay_of`). */
  expectReplay(port: number, id: number): () => void {
    this.#replays.set(port, id);
    return () => this.#replays.delete(port);
  }

  replayOf(port: number | undefined): number | null {
    if (port === undefined || this.#replays.size === 0) return null;
    return this.#replays.get(port) ?? null;
  }

  add(request: StoredRequest): void {
    const entry = request as Entry;
    entry.replayable = replayable(request);
    const bodies = (request.requestBody?.bytes.length ?? 0) + (request.responseBody?.bytes.length ?? 0);
    this.#entries.set(entry.id, entry);
    this.#bodyBytes += bodies;
    let ids = this.#byEndpoint.get(entry.url);
    if (ids === undefined) this.#byEndpoint.set(entry.url, (ids = []));
    ids.push(entry.id);
    if (ids.length > this.#perEndpoint) this.#drop(ids.shift() as number);
    while (this.#entries.size > this.#maxRecords) {
      const oldest = this.#entries.keys().next().value as number;
      this.#byEndpoint.get((this.#entries.get(oldest) as Entry).url)?.shift();
      this.#drop(oldest);
    }
    if (this.#bodyBytes > this.#totalBodyBytes) this.#shedBodies();
    if (this.#waiters.size === 0) return;
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }

  /** Requests after `after`, of `endpoint` (hostname or URL) when given, oldest first, at most `limit` newest. */
  list(query: { endpoint?: string; after?: number; limit?: number } = {}): RequestRecord[] {
    const after = query.after ?? 0;
    let records: RequestRecord[];
    if (query.endpoint === undefined) {
      records = [];
      for (const entry of this.#entries.values()) if (entry.id > after) records.push(recordOf(entry));
    } else {
      const wanted = query.endpoint.toLowerCase();
      records = [];
      for (const [url, ids] of this.#byEndpoint) {
        if (ids.length === 0) continue;
        const first = this.#entries.get(ids[0] as number) as Entry;
        if (url !== wanted && first.endpoint !== wanted) continue;
        for (const id of ids) if (id > after) records.push(recordOf(this.#entries.get(id) as Entry));
      }
      records.sort((a, b) => a.id - b.id);
    }
    const limit = query.limit;
    return limit !== undefined && records.length > limit ? records.slice(records.length - limit) : records;
  }

  /** Like list(), but an empty answer waits up to `waitMs` for a new request (or `signal`). */
  async listWaiting(
    query: { endpoint?: string; after?: number; limit?: number },
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<RequestRecord[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const records = this.list(query);
      const left = deadline - Date.now();
      if (records.length > 0 || left <= 0 || signal?.aborted === true) return records;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
        this.#waiters.add(done);
      });
    }
  }

  get(id: number): RequestDetail | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    return {
      ...recordOf(entry),
      http_version: entry.http_version,
      request_headers: pairs(entry.requestHeaders),
      response_headers: pairs(entry.responseHeaders),
      request_body: capturedBody(entry.requestBody),
      response_body: capturedBody(entry.responseBody),
    };
  }

  /** What a replay of `id` needs: the raw head and the whole body, or why there is none. */
  replaySource(
    id: number,
  ): { head: Buffer; body: Buffer; record: RequestRecord } | 'not-found' | 'not-captured' {
    const entry = this.#entries.get(id);
    if (entry === undefined) return 'not-found';
    if (!entry.replayable || entry.rawHead === null || entry.requestBody === null) return 'not-captured';
    return { head: entry.rawHead, body: entry.requestBody.bytes, record: recordOf(entry) };
  }

  clear(): void {
    this.#entries.clear();
    this.#byEndpoint.clear();
    this.#bodyBytes = 0;
  }

  #drop(id: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#bodyBytes -= (entry.requestBody?.bytes.length ?? 0) + (entry.responseBody?.bytes.length ?? 0);
    this.#entries.delete(id);
  }

  /** Over the body budget: the oldest requests lose their bodies (and with them, replay). */
  #shedBodies(): void {
    for (const entry of this.#entries.values()) {
      if (this.#bodyBytes <= this.#totalBodyBytes) return;
      const bytes = (entry.requestBody?.bytes.length ?? 0) + (entry.responseBody?.bytes.length ?? 0);
      if (bytes === 0 && entry.rawHead === null) continue;
      this.#bodyBytes -= bytes;
      entry.requestBody = null;
      entry.responseBody = null;
      entry.rawHead = null;
      entry.replayable = false;
    }
  }
}

function replayable(request: StoredRequest): boolean {
  const body = request.requestBody;
  return (
    request.rawHead !== null &&
    body !== null &&
    body.size === body.bytes.length &&
    request.kind === 'http' &&
    request.method !== 'CONNECT'
  );
}

function capturedBody(body: BodyCapture | null): CapturedBody | null {
  if (body === null) return null;
  return { size: body.size, truncated: body.size > body.bytes.length, base64: body.bytes.toString('base64') };
}
