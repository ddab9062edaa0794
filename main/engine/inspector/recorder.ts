/**
 * One local connection's requests, as the forwarder's HTTP parser (forwarder/host-rewrite.ts)
 * reports them: a record per request, matched to its answer in order (keep-alive and pipelining),
 * handed to the store when the answer ended, or when the connection did. Headers are redacted
 * here, so a secret is never kept where the store's readers can reach it.
 */
import { performance } from 'node:perf_hooks';
import type { EndpointAddress } from '../../common/endpoint-url.ts';
import type { HttpObserver, ObservedRequestHead, PassthroughReason } from '../forwarder/host-rewrite.ts';
import { joinHeaders, type BodyCapture, type RequestStore, type StoredRequest } from './store.ts';

/** Until the parser gives an exchange its headers (never written to). */
const NO_HEADERS: string[] = [];

/**
 * A request in flight on this connection. It is itself what the store keeps once it is complete
 * (StoredRequest's fields are filled in by #finish): one object per request for the GC, not two.
 */
export interface Exchange extends StoredRequest {
  startedAt: number;
  /** Name, value… (redacted) while in flight; joined into requestHeaders/responseHeaders at the end. */
  requestFlat: string[];
  responseFlat: string[];
  requestEnded: boolean;
  /** The parser will never match an answer to it: recorded once its request ended. */
  unanswered: boolean;
  requestParts: BodyParts | null;
  responseParts: BodyParts | null;
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
  readonly #clientPort: number | undefined;
  /** Looked up once, at the first request: a replay names its port after connecting, before sending. */
  #replayOf: number | null = null;
  #replayLookedUp = false;
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
    this.#clientPort = clientPort;
    this.captureBodies = store.captureBodies;
  }

  /**
   * ngrokd could not reach the ingress and answers 502 with `code`: the requests seen so far (sent
   * early, behind the ConnRequest) and the next ones are recorded so.
   */
  refused(code: string): void {
    this.#refused = code;
    for (const exchange of [...this.#open]) this.#refuse(exchange, code);
  }

  request(head: ObservedRequestHead): Exchange {
    const exchange = this.#exchange(head.method, head.target, head.version);
    // The parser made this list for us: redacted in place, no copy.
    exchange.requestFlat = this.#store.redact(head.headers);
    if (this.captureBodies) {
      exchange.rawHead = head.raw;
      exchange.requestParts = new BodyParts(this.#store.maxBodyBytes);
    }
    if (this.#refused !== null) this.#refuse(exchange, this.#refused);
    return exchange;
  }

  requestBody(exchange: Exchange, piece: Buffer): void {
    exchange.requestParts?.add(piece);
  }

  requestEnd(exchange: Exchange, bytes: number): void {
    exchange.bytes_out = bytes;
    exchange.requestEnded = true;
    if (exchange.unanswered) this.#finish(exchange);
  }

  response(exchange: Exchange | undefined, status: number, headers: string[], switched: boolean): void {
    if (exchange === undefined || exchange.done) return;
    exchange.status = status;
    exchange.responseFlat = this.#store.redact(headers);
    if (this.captureBodies) exchange.responseParts = new BodyParts(this.#store.maxBodyBytes);
    if (switched) {
      // A WebSocket (or h2c upgrade, or CONNECT tunnel) is one record, timed to its answer.
      exchange.kind = 'upgrade';
      this.#finish(exchange);
    }
  }

  unanswered(exchange: Exchange): void {
    // Kept until its request ends (for its size and body), then recorded without an answer.
    exchange.unanswered = true;
    if (exchange.error === null) exchange.error = 'NO_RESPONSE';
    if (exchange.requestEnded) this.#finish(exchange);
  }

  responseBody(exchange: Exchange, piece: Buffer): void {
    exchange.responseParts?.add(piece);
  }

  responseEnd(exchange: Exchange, bytes: number): void {
    exchange.bytes_in = bytes;
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
      this.#h2c.bytes_out = bytesOut;
      this.#h2c.bytes_in = bytesIn;
    }
    for (const exchange of [...this.#open]) {
      if (exchange.status === null && exchange.kind === 'http') exchange.error = 'NO_RESPONSE';
      this.#finish(exchange);
    }
  }

  #replay(): number | null {
    if (!this.#replayLookedUp) {
      this.#replayLookedUp = true;
      this.#replayOf = this.#store.replayOf(this.#clientPort);
    }
    return this.#replayOf;
  }

  #exchange(method: string, target: string, version: string): Exchange {
    const exchange: Exchange = {
      id: this.#store.nextId(),
      tsMs: Date.now(),
      endpoint: this.#address.hostname,
      url: this.#url,
      method,
      path: target,
      status: null,
      duration_ms: 0,
      bytes_out: 0,
      bytes_in: 0,
      connection_id: this.#connectionId,
      kind: 'http',
      error: null,
      replay_of: this.#replay(),
      http_version: version,
      requestHeaders: '',
      responseHeaders: '',
      requestBody: null,
      responseBody: null,
      rawHead: null,
      startedAt: performance.now(),
      requestFlat: NO_HEADERS,
      responseFlat: NO_HEADERS,
      requestEnded: false,
      unanswered: false,
      requestParts: null,
      responseParts: null,
      done: false,
    };
    this.#open.push(exchange);
    return exchange;
  }

  #refuse(exchange: Exchange, code: string): void {
    exchange.status = 502;
    exchange.error = code;
    this.#finish(exchange);
  }

  #finish(exchange: Exchange): void {
    if (exchange.done) return;
    exchange.done = true;
    // Answers come in order: the exchange that ends is almost always the oldest open one.
    if (this.#open[0] === exchange) this.#open.shift();
    else {
      const index = this.#open.indexOf(exchange);
      if (index >= 0) this.#open.splice(index, 1);
    }
    exchange.duration_ms = Math.round((performance.now() - exchange.startedAt) * 100) / 100;
    exchange.requestHeaders = joinHeaders(exchange.requestFlat);
    exchange.responseHeaders = joinHeaders(exchange.responseFlat);
    exchange.requestFlat = NO_HEADERS;
    exchange.responseFlat = NO_HEADERS;
    // A request whose body did not end is not whole: it is kept, but never replayed.
    exchange.requestBody = exchange.requestEnded
      ? (exchange.requestParts?.capture() ?? null)
      : partial(exchange.requestParts);
    exchange.responseBody = exchange.responseParts?.capture() ?? null;
    if (!exchange.requestEnded) exchange.rawHead = null;
    exchange.requestParts = null;
    exchange.responseParts = null;
    this.#store.add(exchange);
  }
}

/** A body cut short: kept for display, marked truncated (size > kept) so it is not replayed. */
function partial(body: BodyParts | null): BodyCapture | null {
  if (body === null) return null;
  const capture = body.capture();
  return { bytes: capture.bytes, size: Math.max(capture.size, capture.bytes.length + 1) };
}
