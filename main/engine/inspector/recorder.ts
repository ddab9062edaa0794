/**
 * One local connection's requests, as the forwarder's HTTP parser (forwarder/host-rewrite.ts)
 * reports them: a record per request, matched to its answer in order (keep-alive and pipelining),
 * handed to the store when the answer ended, or when the connection did. Headers are redacted
 * here, so a secret is never kept where the store's readers can reach it.
 */
import { performance } from 'node:perf_hooks';
import { REDACTED, type RequestDetail } from '../../common/contract.ts';
import type { EndpointAddress } from '../../common/endpoint-url.ts';
import type { HttpObserver, ObservedRequestHead, PassthroughReason } from '../forwarder/host-rewrite.ts';
import type { BodyCapture, RequestStore } from './store.ts';

/** A request in flight on this connection. */
export interface Exchange {
  id: number;
  ts: number;
  startedAt: number;
  method: string;
  path: string;
  version: string;
  requestHeaders: [string, string][];
  responseHeaders: [string, string][];
  status: number | null;
  requestBytes: number;
  responseBytes: number;
  requestEnded: boolean;
  kind: RequestDetail['kind'];
  error: string | null;
  rawHead: Buffer | null;
  requestBody: BodyParts | null;
  responseBody: BodyParts | null;
  done: boolean;
}

/** A body as it arrives: pieces (copied) up to the cap, and the size seen. */
class BodyParts {
  readonly parts: Buffer[] = [];
  kept = 0;
  size = 0;
  readonly #cap: number;

  constructor(cap: number) {
    this.#cap = cap;
  }

  add(piece: Buffer): void {
    this.size += piece.length;
    const room = this.#cap - this.kept;
    if (room <= 0) return;
    const part = piece.length <= room ? piece : piece.subarray(0, room);
    this.parts.push(Buffer.from(part));
    this.kept += part.length;
  }

  capture(): BodyCapture {
    return { bytes: Buffer.concat(this.parts, this.kept), size: this.size };
  }
}

export class ConnectionRecorder implements HttpObserver<Exchange> {
  readonly captureBodies: boolean;
  readonly #store: RequestStore;
  readonly #address: EndpointAddress;
  readonly #url: string;
  readonly #connectionId: number;
  readonly #replayOf: number | null;
  /** Requests not handed to the store yet, oldest first. */
  readonly #open: Exchange[] = [];
  /** Set when ngrokd answers the client itself (the upgrade was refused): the error code. */
  #refused: string | null = null;
  #h2c: Exchange | null = null;
  #closed = false;

  constructor(store: RequestStore, address: EndpointAddress, clientPort?: number) {
    this.#store = store;
    this.#address = address;
    this.#url = address.normalized;
    this.#connectionId = store.nextConnectionId();
    this.#replayOf = store.replayOf(clientPort);
    this.captureBodies = store.captureBodies;
  }

  /** ngrokd could not reach the ingress and answers 502 with `code`: the next request is recorded so. */
  refused(code: string): void {
    this.#refused = code;
  }

  request(head: ObservedRequestHead): Exchange {
    const exchange = this.#exchange(head.method, head.target, head.version);
    for (let i = 0; i + 1 < head.headers.length; i += 2) {
      const name = head.headers[i] as string;
      exchange.requestHeaders.push([
        name,
        this.#store.isRedacted(name) ? REDACTED : (head.headers[i + 1] as string),
      ]);
    }
    if (this.captureBodies) {
      exchange.rawHead = head.raw;
      exchange.requestBody = new BodyParts(this.#store.maxBodyBytes);
    }
    if (this.#refused !== null) {
      exchange.status = 502;
      exchange.error = this.#refused;
      this.#finish(exchange);
    }
    return exchange;
  }

  requestBody(exchange: Exchange, piece: Buffer): void {
    exchange.requestBody?.add(piece);
  }

  requestEnd(exchange: Exchange, bytes: number): void {
    exchange.requestBytes = bytes;
    exchange.requestEnded = true;
  }

  response(exchange: Exchange | undefined, status: number, headers: string[], switched: boolean): void {
    if (exchange === undefined || exchange.done) return;
    exchange.status = status;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i] as string;
      exchange.responseHeaders.push([
        name,
        this.#store.isRedacted(name) ? REDACTED : (headers[i + 1] as string),
      ]);
    }
    if (this.captureBodies) exchange.responseBody = new BodyParts(this.#store.maxBodyBytes);
    if (switched) {
      // A WebSocket (or h2c upgrade, or CONNECT tunnel) is one record, timed to its answer.
      exchange.kind = 'upgrade';
      this.#finish(exchange);
    }
  }

  responseBody(exchange: Exchange, piece: Buffer): void {
    exchange.responseBody?.add(piece);
  }

  responseEnd(exchange: Exchange, bytes: number): void {
    exchange.responseBytes = bytes;
    this.#finish(exchange);
  }

  passthrough(reason: PassthroughReason): void {
    // HTTP/2 with prior knowledge: its requests cannot be seen; the connection is one record.
    if (reason === 'h2c' && this.#h2c === null) {
      this.#h2c = this.#exchange('PRI', '*', 'HTTP/2.0');
      this.#h2c.kind = 'h2c';
    }
  }

  /**
   * The connection closed, having carried `bytesOut` and `bytesIn`: requests still open are
   * recorded as they are (no status: `NO_RESPONSE`); an h2c connection as a whole.
   */
  close(bytesOut: number, bytesIn: number): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#h2c !== null) {
      this.#h2c.requestBytes = bytesOut;
      this.#h2c.responseBytes = bytesIn;
    }
    for (const exchange of [...this.#open]) {
      if (exchange.status === null && exchange.kind === 'http') exchange.error = 'NO_RESPONSE';
      this.#finish(exchange);
    }
  }

  #exchange(method: string, target: string, version: string): Exchange {
    const exchange: Exchange = {
      id: this.#store.nextId(),
      ts: Date.now(),
      startedAt: performance.now(),
      method,
      path: target,
      version,
      requestHeaders: [],
      responseHeaders: [],
      status: null,
      requestBytes: 0,
      responseBytes: 0,
      requestEnded: false,
      kind: 'http',
      error: null,
      rawHead: null,
      requestBody: null,
      responseBody: null,
      done: false,
    };
    this.#open.push(exchange);
    return exchange;
  }

  #finish(exchange: Exchange): void {
    if (exchange.done) return;
    exchange.done = true;
    const index = this.#open.indexOf(exchange);
    if (index >= 0) this.#open.splice(index, 1);
    const { hostname } = this.#address;
    this.#store.add({
      detail: {
        id: exchange.id,
        ts: new Date(exchange.ts).toISOString(),
        endpoint: hostname,
        url: this.#url,
        method: exchange.method,
        path: exchange.path,
        status: exchange.status,
        duration_ms: Math.round((performance.now() - exchange.startedAt) * 100) / 100,
        bytes_out: exchange.requestBytes,
        bytes_in: exchange.responseBytes,
        connection_id: this.#connectionId,
        kind: exchange.kind,
        error: exchange.error,
        replay_of: this.#replayOf,
        http_version: exchange.version,
        request_headers: exchange.requestHeaders,
        response_headers: exchange.responseHeaders,
      },
      // A request whose body did not end is not whole: it is kept, but never replayed.
      requestBody: exchange.requestEnded
        ? (exchange.requestBody?.capture() ?? null)
        : partial(exchange.requestBody),
      responseBody: exchange.responseBody?.capture() ?? null,
      rawHead: exchange.requestEnded ? exchange.rawHead : null,
    });
  }
}

/** A body cut short: kept for display, marked truncated (size > kept) so it is not replayed. */
function partial(body: BodyParts | null): BodyCapture | null {
  if (body === null) return null;
  const capture = body.capture();
  return { bytes: capture.bytes, size: Math.max(capture.size, capture.bytes.length + 1) };
}
