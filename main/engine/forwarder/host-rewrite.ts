/**
 * Host header rewrite for http endpoints (shared/ngrok-protocol.md §3): a client that reached us by
 * IP sends `Host: 10.107.0.5` (or nothing), but the ingress routes on Host. This is an incremental
 * HTTP/1.x request parser for the client-to-ingress direction that rewrites Host on every request of
 * a keep-alive connection. It only needs message boundaries, so bodies are counted, never buffered.
 *
 * It also watches the answers (`pushResponse`, bytes from the ingress, never changed): after a
 * request carrying `Upgrade` (curl sends `Upgrade: h2c` with every --http2 request) or a CONNECT,
 * what the client sends next is the new protocol if the server switches (101, or 2xx to CONNECT)
 * and the next HTTP request if it declines. So those bytes are held (up to MAX_HELD_BYTES) until the
 * status of that answer is known, then passed through unchanged or parsed and rewritten. Responses
 * are counted like requests: heads are parsed, bodies skipped by their length; 1xx other than 101
 * do not end a request, answers to HEAD have no body, a body without a length ends at close.
 *
 * Safety rule: the output is always the input with, at most, Host lines replaced or inserted. As
 * soon as something is not plain HTTP/1.x (a switched protocol, the HTTP/2 preface, TLS, a malformed
 * or oversized head, ambiguous framing, an answer that cannot be known) it switches to passthrough
 * and emits every byte it holds unchanged and in order. Only request heads, and the bytes after an
 * upgrade request until its answer, are held back; everything else is emitted as subarrays of the
 * input chunks.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** A request or response head (or a chunked trailer section) larger than this is not parsed. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Client bytes held after an Upgrade or CONNECT request while its answer is awaited. */
export const MAX_HELD_BYTES = 64 * 1024;
/** Requests sent ahead of their answers (pipelining) beyond which answers are no longer matched. */
const MAX_PENDING = 256;
const MAX_CHUNK_SIZE_LINE = 4096;
const MAX_METHOD_LENGTH = 32;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TOKEN_PREFIX = /^[!#$%&'*+.^_`|~0-9A-Za-z-]*/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\s]+) HTTP\/1\.[01]$/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,13})[ \t]*(?:;[^\r]*)?$/;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?:[ \t][^\r]*)?$/;
const STATUS_PREFIX = 'HTTP/1.';
const HEAD_END = Buffer.from('\r\n\r\n');
const H2_PREFACE_LINE = 'PRI * HTTP/2.0';

type State =
  | 'head'
  | 'body'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-data-end'
  | 'trailers'
  /** After an Upgrade or CONNECT request: holding what follows until the answer's status. */
  | 'await-answer'
  | 'passthrough';

/** Where the answers are; 'off' once they cannot be followed (or need not be any more). */
type ResponseState = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-data-end' | 'trailers' | 'off';

/** Why a connection stopped being parsed. */
export type PassthroughReason =
  /** A 101 to an Upgrade, or a 2xx to CONNECT: the bytes are no longer HTTP/1.x. */
  | 'switched'
  /** The HTTP/2 prior-knowledge preface: `:authority` cannot be rewritten without HPACK. */
  | 'h2c'
  /** Not HTTP/1.x, malformed, oversized or ambiguous. */
  | 'unparsed'
  /** More than MAX_HELD_BYTES followed an Upgrade or CONNECT before its answer. */
  | 'hold-limit'
  /** An Upgrade or CONNECT whose answer cannot be known (the answers could not be followed). */
  | 'unanswered';

/** A request whose final answer has not been seen yet. */
interface PendingRequest<X> {
  /** A HEAD request: its answer has no body. */
  head: boolean;
  kind: 'plain' | 'upgrade' | 'connect';
  answer: 'switched' | 'declined' | null;
  /** Offset of its first byte in the client's stream. */
  start: number;
  /** The observer's handle for this exchange, when there is an observer. */
  exchange: X | undefined;
}

/** A request head as the client sent it (before any Host rewrite). */
export interface ObservedRequestHead {
  method: string;
  /** The request target: a path (`/a?b`), an absolute URL, `host:port` (CONNECT) or `*`. */
  target: string;
  /** `HTTP/1.0` or `HTTP/1.1`. */
  version: string;
  /** Header names and values in order, as sent: [name0, value0, name1, value1, …]. */
  headers: string[];
  /** The head's bytes as received, only when the observer captures bodies (for a replay). */
  raw: Buffer | null;
}

/**
 * What a request inspector learns from one connection (main/engine/inspector/recorder.ts). The
 * rewriter calls it as it parses; it never changes a byte. `X` is the observer's own handle for
 * one request/response exchange. Bodies are reported only when `captureBodies` is true, as the
 * message body (chunked framing removed), in pieces that are subarrays of the input: copy them.
 */
export interface HttpObserver<X> {
  readonly captureBodies: boolean;
  /** A request head ended. */
  request(head: ObservedRequestHead): X;
  requestBody(exchange: X, piece: Buffer): void;
  /** The request (head and body) ended after `bytes` bytes from the client. */
  requestEnd(exchange: X, bytes: number): void;
  /**
   * A final response head (not 1xx, except 101) ended; `exchange` is its request's, or undefined
   * when it matches none. `switched`: a 101, or a 2xx to CONNECT (what follows is not HTTP).
   */
  response(exchange: X | undefined, status: number, headers: string[], switched: boolean): void;
  responseBody(exchange: X, piece: Buffer): void;
  /** The response ended after `bytes` bytes from the ingress. */
  responseEnd(exchange: X, bytes: number): void;
  /** The connection is not HTTP/1.x (any more): nothing more will be reported. */
  passthrough(reason: PassthroughReason): void;
  /**
   * No answer will be matched to this exchange: answers stopped being followed (one that is not
   * HTTP/1.x, too many in flight) while it waited, or it came after that.
   */
  unanswered(exchange: X): void;
}

export interface HostRewriteTarget {
  /** The endpoint hostname (no port). */
  hostname: string;
  /** The endpoint port; the Host value carries it unless it is 80. */
  port: number;
}

/** The Host value a request to this endpoint should carry. */
export function hostHeaderValue(target: HostRewriteTarget): string {
  return target.port === 80 ? target.hostname : `${target.hostname}:${target.port}`;
}

/** The host part of a Host value: lower-case, without port or trailing dot. */
function hostOf(value: string): string {
  let host = value.toLowerCase();
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  if (colon >= 0) host = host.slice(0, colon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s[start] === ' ' || s[start] === '\t')) start++;
  while (end > start && (s[end - 1] === ' ' || s[end - 1] === '\t')) end--;
  return s.slice(start, end);
}

function stripEol(line: string): string {
  return line.endsWith('\r\n') ? line.slice(0, -2) : line.slice(0, -1);
}

/** Whether `s`, the start of a response's first line, can still become `HTTP/1.x ...`. */
function plausibleStatusStart(s: string): boolean {
  return s.length <= STATUS_PREFIX.length ? STATUS_PREFIX.startsWith(s) : s.startsWith(STATUS_PREFIX);
}

/** Whether `s`, the start of a first line, can still become `METHOD SP ...`. */
function plausibleRequestStart(s: string): boolean {
  if (s === '\r') return true;
  const method = (TOKEN_PREFIX.exec(s.slice(0, MAX_METHOD_LENGTH + 1)) as RegExpExecArray)[0].length;
  if (method === s.length) return method <= MAX_METHOD_LENGTH;
  return method >= 1 && s[method] === ' ';
}

/** What the head seen so far says about the request. Offsets are relative to the head's first byte. */
interface RequestHead {
  method: string;
  requestLineEnd: number;
  hostCount: number;
  hostValue: string;
  hostStart: number;
  hostEnd: number;
  contentLength: string | null;
  transferEncoding: string | null;
  upgrade: boolean;
  target: string;
  version: string;
  /** Name/value pairs, collected only for an observer. */
  headers: string[];
}

function emptyHead(): RequestHead {
  return {
    method: '',
    requestLineEnd: -1,
    hostCount: 0,
    hostValue: '',
    hostStart: 0,
    hostEnd: 0,
    contentLength: null,
    transferEncoding: null,
    upgrade: false,
    target: '',
    version: '',
    headers: [],
  };
}

/** A Content-Length value (repeated values must agree), or null when it is not a valid one. */
function contentLength(value: string): number | null {
  const values = new Set(value.split(',').map(trimOws));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^[0-9]{1,15}$/.test(only)) return null;
  return Number(only);
}

type LineVerdict = 'more' | 'done' | 'invalid' | 'h2c';

export class HostRewriter<X = never> {
  /** Requests whose Host was rewritten (or inserted). */
  rewritten = 0;
  /** Why the request direction is in passthrough, or null while it is parsed. */
  passthroughReason: PassthroughReason | null = null;

  private readonly hostname: string;
  private readonly hostLine: Buffer;
  private state: State = 'head';
  /** Bytes left in a Content-Length body or the current chunk. */
  private remaining = 0;
  /** The current chunk-size, chunk-end or trailer line (latin1: one char per byte). */
  private line = '';
  private trailerBytes = 0;
  /** Head bytes from earlier input chunks, copied, not yet emitted. */
  private held: Buffer[] = [];
  /** The incomplete head line so far (latin1). */
  private partialLine = '';
  /** Bytes of the current head consumed so far. */
  private headLength = 0;
  private head: RequestHead = emptyHead();
  /** The request whose body is being read. */
  private current: PendingRequest<X> | null = null;
  /** Client bytes (copied) after an Upgrade or CONNECT request, held until its answer. */
  private waiting: Buffer[] = [];
  private waitingBytes = 0;
  private awaited: PendingRequest<X> | null = null;

  /** Requests sent whose final answer has not come back, oldest first. */
  private pending: PendingRequest<X>[] = [];
  private res: ResponseState = 'head';
  private resRemaining = 0;
  /** The incomplete response line so far (latin1). */
  private resLine = '';
  private resHeadBytes = 0;
  private resTrailerBytes = 0;
  /** The status of the response head being read, -1 before its status line. */
  private resStatus = -1;
  private resContentLength: string | null = null;
  private resTransferEncoding: string | null = null;

  private readonly observer: HttpObserver<X> | null;
  private readonly captureBodies: boolean;
  /** Client bytes consumed before the current input chunk, and all of them so far. */
  private chunkBase = 0;
  private reqTotal = 0;
  /** Ingress bytes before the current chunk, and the offset parsing has reached in it. */
  private resBase = 0;
  private resAt = 0;
  /** Offset of the first byte of the response head being read. */
  private resStart = 0;
  /** The exchange whose response body is being read. */
  private resExchange: X | undefined;
  private resHeaders: string[] = [];

  constructor(target: HostRewriteTarget, observer: HttpObserver<X> | null = null) {
    this.hostname = hostOf(target.hostname);
    this.hostLine = Buffer.from(`Host: ${hostHeaderValue(target)}\r\n`, 'latin1');
    this.observer = observer;
    this.captureBodies = observer?.captureBodies === true;
  }

  /** The request direction is no longer parsed: bytes go out as they come. */
  get passthrough(): boolean {
    return this.state === 'passthrough';
  }

  /** Bytes after an Upgrade or CONNECT request are held until its answer comes back. */
  get awaitingAnswer(): boolean {
    return this.state === 'await-answer';
  }

  /**
   * Whether pushResponse still needs the bytes from the ingress: to know an answer, or for an
   * observer until the connection switched protocols (it still counts a response's bytes).
   */
  get watchingResponses(): boolean {
    if (this.observer !== null)
      return this.passthroughReason !== 'switched' && this.passthroughReason !== 'h2c';
    return this.followingAnswers && this.state !== 'passthrough';
  }

  /** Answers are parsed, so the one to an Upgrade or CONNECT can be known. */
  private get followingAnswers(): boolean {
    return this.res !== 'off';
  }

  /** Feed client bytes; returns what to send upstream, in order. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const length = chunk.length;
    this.chunkBase = this.reqTotal;
    this.reqTotal += length;
    let pos = 0;
    /** Start of the bytes of `chunk` consumed but not yet emitted or held. */
    let emitStart = 0;

    while (pos < length) {
      switch (this.state) {
        case 'passthrough':
          pos = length;
          break;

        case 'await-answer':
          this.hold(chunk.subarray(pos), out);
          pos = length;
          emitStart = length;
          break;

        case 'body':
        case 'chunk-data': {
          const n = Math.min(this.remaining, length - pos);
          if (this.captureBodies && this.current?.exchange !== undefined)
            this.observer?.requestBody(this.current.exchange, chunk.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (this.state === 'chunk-data') {
              this.state = 'chunk-data-end';
            } else {
              if (emitStart < pos) out.push(chunk.subarray(emitStart, pos));
              emitStart = pos;
              this.requestDone(out, this.chunkBase + pos);
            }
          }
          break;
        }

        case 'chunk-size':
        case 'chunk-data-end':
        case 'trailers': {
          const nl = chunk.indexOf(10, pos);
          const end = nl < 0 ? length : nl + 1;
          this.line += chunk.toString('latin1', pos, end);
          if (this.state === 'trailers') this.trailerBytes += end - pos;
          pos = end;
          const tooLong =
            this.state === 'trailers'
              ? this.trailerBytes > MAX_HEAD_BYTES
              : this.line.length > MAX_CHUNK_SIZE_LINE;
          if (tooLong) {
            this.toPassthrough(out, 'unparsed');
          } else if (nl >= 0) {
            const requestDone = this.bodyLineComplete(stripEol(this.line), out);
            this.line = '';
            if (requestDone) {
              if (emitStart < pos) out.push(chunk.subarray(emitStart, pos));
              emitStart = pos;
              this.requestDone(out, this.chunkBase + pos);
            }
          }
          break;
        }

        case 'head': {
          const nl = chunk.indexOf(10, pos);
          if (nl < 0) {
            this.partialLine += chunk.toString('latin1', pos, length);
            this.headLength += length - pos;
            pos = length;
            const firstLine = this.head.requestLineEnd < 0;
            if (this.headLength > MAX_HEAD_BYTES || (firstLine && !plausibleRequestStart(this.partialLine)))
              this.toPassthrough(out, 'unparsed');
            break;
          }
          const text = this.partialLine + chunk.toString('latin1', pos, nl + 1);
          // The partial line's bytes were already counted in headLength.
          const lineStart = this.headLength - this.partialLine.length;
          this.partialLine = '';
          this.headLength += nl + 1 - pos;
          pos = nl + 1;
          const verdict = this.headLength > MAX_HEAD_BYTES ? 'invalid' : this.headLine(text, lineStart);
          if (verdict === 'invalid' || verdict === 'h2c') {
            this.toPassthrough(out, verdict === 'h2c' ? 'h2c' : 'unparsed');
          } else if (verdict === 'done') {
            const headBytes = chunk.subarray(emitStart, pos);
            emitStart = pos;
            this.headComplete(headBytes, out, this.chunkBase + pos);
          }
          break;
        }
      }
    }

    if (emitStart < length) {
      const rest = chunk.subarray(emitStart, length);
      // A partial head is held until it is complete (it may need a rewrite); copy it, because the
      // caller may reuse its buffer.
      if (this.state === 'head') this.held.push(Buffer.from(rest));
      else out.push(rest);
    }
    return out;
  }

  /**
   * Feed bytes from the ingress (they are only looked at, and go to the client unchanged); returns
   * client bytes the answer released, to send upstream after what push() returned so far.
   */
  pushResponse(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const length = chunk.length;
    const base = this.resBase;
    this.resBase += length;
    let pos = 0;
    while (pos < length && this.res !== 'off') {
      switch (this.res) {
        case 'body':
        case 'chunk-data': {
          const n = Math.min(this.resRemaining, length - pos);
          if (this.captureBodies && this.resExchange !== undefined)
            this.observer?.responseBody(this.resExchange, chunk.subarray(pos, pos + n));
          pos += n;
          this.resRemaining -= n;
          if (this.resRemaining === 0) {
            if (this.res === 'chunk-data') {
              this.res = 'chunk-data-end';
            } else {
              this.res = 'head';
              this.resAt = base + pos;
              this.responseDone();
            }
          }
          break;
        }

        case 'chunk-size':
        case 'chunk-data-end':
        case 'trailers': {
          const nl = chunk.indexOf(10, pos);
          const end = nl < 0 ? length : nl + 1;
          this.resLine += chunk.toString('latin1', pos, end);
          if (this.res === 'trailers') this.resTrailerBytes += end - pos;
          pos = end;
          const tooLong =
            this.res === 'trailers'
              ? this.resTrailerBytes > MAX_HEAD_BYTES
              : this.resLine.length > MAX_CHUNK_SIZE_LINE;
          if (tooLong) {
            this.responsesLost(out);
          } else if (nl >= 0) {
            const line = stripEol(this.resLine);
            this.resLine = '';
            this.resAt = base + pos;
            this.responseBodyLine(line, out);
          }
          break;
        }

        case 'head': {
          // The common case, a whole head in this chunk: decoded once, its lines sliced from that
          // string; each line is then handled exactly as below.
          if (this.resLine === '') {
            const headEnd = chunk.indexOf(HEAD_END, pos);
            if (headEnd >= 0 && this.resHeadBytes + headEnd + HEAD_END.length - pos <= MAX_HEAD_BYTES) {
              const text = chunk.toString('latin1', pos, headEnd + HEAD_END.length);
              let at = 0;
              while (at < text.length && this.res === 'head') {
                const lineEnd = text.indexOf('\n', at) + 1;
                this.resHeadBytes += lineEnd - at;
                this.resAt = base + pos + lineEnd;
                const line = stripEol(text.slice(at, lineEnd));
                at = lineEnd;
                this.responseHeadLine(line, out);
              }
              pos += at;
              break;
            }
          }
          const nl = chunk.indexOf(10, pos);
          const end = nl < 0 ? length : nl + 1;
          this.resLine += chunk.toString('latin1', pos, end);
          this.resHeadBytes += end - pos;
          pos = end;
          if (this.resHeadBytes > MAX_HEAD_BYTES) {
            this.responsesLost(out);
          } else if (nl >= 0) {
            const line = stripEol(this.resLine);
            this.resLine = '';
            this.resAt = base + pos;
            this.responseHeadLine(line, out);
          } else if (this.resStatus < 0 && this.resLine !== '\r' && !plausibleStatusStart(this.resLine)) {
            // Not HTTP/1.x coming back: answers cannot be followed.
            this.responsesLost(out);
          }
          break;
        }
      }
    }
    return out;
  }

  /** The input ended: whatever is still held goes out unchanged. */
  end(): Buffer[] {
    const out = [...this.held, ...this.waiting];
    this.held = [];
    this.waiting = [];
    this.waitingBytes = 0;
    if (this.state === 'await-answer') this.setPassthrough('unanswered');
    return out;
  }

  /**
   * The ingress's side ended, so no answer is coming: bytes held for one go out unchanged, and
   * later Upgrade or CONNECT requests switch to passthrough.
   */
  abandon(): Buffer[] {
    const out: Buffer[] = [];
    this.responsesLost(out);
    return out;
  }

  private startHead(): void {
    this.state = 'head';
    this.head = emptyHead();
    this.headLength = 0;
    this.partialLine = '';
  }

  private setPassthrough(reason: PassthroughReason): void {
    this.state = 'passthrough';
    this.passthroughReason = reason;
    this.res = 'off';
    this.pending = [];
    this.observer?.passthrough(reason);
  }

  /** Give up parsing: everything held goes out unchanged, and so will everything after. */
  private toPassthrough(out: Buffer[], reason: PassthroughReason): void {
    out.push(...this.held, ...this.waiting);
    this.held = [];
    this.waiting = [];
    this.waitingBytes = 0;
    this.awaited = null;
    this.setPassthrough(reason);
  }

  /** Hold client bytes until the awaited answer; past the cap they go out unchanged. */
  private hold(bytes: Buffer, out: Buffer[]): void {
    this.waiting.push(Buffer.from(bytes));
    this.waitingBytes += bytes.length;
    if (this.waitingBytes > MAX_HELD_BYTES) this.toPassthrough(out, 'hold-limit');
  }

  /** The current request (head and body) has been emitted; it ended at offset `end`. */
  private requestDone(out: Buffer[], end: number): void {
    const request = this.current;
    this.current = null;
    if (request?.exchange !== undefined) this.observer?.requestEnd(request.exchange, end - request.start);
    if (request === null || request.kind === 'plain' || request.answer === 'declined') {
      this.startHead();
    } else if (!this.followingAnswers) {
      // Its answer cannot be known: what follows may be anything, so it is not touched.
      this.toPassthrough(out, 'unanswered');
    } else {
      this.state = 'await-answer';
      this.awaited = request;
    }
  }

  /** The awaited upgrade was declined: what was held is the next request(s), parsed as usual. */
  private resume(out: Buffer[]): void {
    const held = this.waiting;
    // These bytes were counted when they were held; push() counts them again.
    this.reqTotal -= this.waitingBytes;
    this.waiting = [];
    this.waitingBytes = 0;
    this.awaited = null;
    this.startHead();
    for (const bytes of held) out.push(...this.push(bytes));
  }

  /** Answers can no longer be followed: stop, and release what waits for one. */
  private responsesLost(out: Buffer[]): void {
    this.res = 'off';
    for (const request of this.pending)
      if (request.exchange !== undefined) this.observer?.unanswered(request.exchange);
    this.pending = [];
    if (this.state === 'await-answer') this.toPassthrough(out, 'unanswered');
  }

  private headLine(text: string, lineStart: number): LineVerdict {
    const line = stripEol(text);
    const head = this.head;
    if (head.requestLineEnd < 0) {
      // RFC 9112 §2.2: ignore empty lines before the request line.
      if (line === '') return lineStart + text.length > MAX_METHOD_LENGTH ? 'invalid' : 'more';
      if (line === H2_PREFACE_LINE) return 'h2c';
      const m = REQUEST_LINE.exec(line);
      if (m === null) return 'invalid';
      head.method = m[1] as string;
      head.requestLineEnd = lineStart + text.length;
      if (this.observer !== null) {
        head.target = m[2] as string;
        head.version = line.slice(line.length - 8);
      }
      return 'more';
    }
    if (line === '') return 'done';
    const colon = line.indexOf(':');
    if (colon <= 0) return 'invalid';
    const name = line.slice(0, colon);
    // Also rejects obs-fold continuation lines (they start with a space).
    if (!TOKEN.test(name)) return 'invalid';
    const value = trimOws(line.slice(colon + 1));
    if (value.includes('\r') || value.includes('\0')) return 'invalid';
    if (this.observer !== null) head.headers.push(name, value);
    switch (name.toLowerCase()) {
      case 'host':
        head.hostCount++;
        head.hostValue = value;
        head.hostStart = lineStart;
        head.hostEnd = lineStart + text.length;
        break;
      case 'content-length':
        head.contentLength = head.contentLength === null ? value : `${head.contentLength},${value}`;
        break;
      case 'transfer-encoding':
        head.transferEncoding = head.transferEncoding === null ? value : `${head.transferEncoding},${value}`;
        break;
      case 'upgrade':
        head.upgrade = true;
        break;
    }
    return 'more';
  }

  /** The head ended at the end of `tail` (its last bytes, from the current chunk). */
  private headComplete(tail: Buffer, out: Buffer[], end: number): void {
    const head = this.head;
    const next = this.framing(head);
    if (next === 'invalid') {
      this.toPassthrough(out, 'unparsed');
      out.push(tail);
      return;
    }
    let exchange: X | undefined;
    if (this.observer !== null) {
      const raw = !this.captureBodies
        ? null
        : this.held.length === 0
          ? Buffer.from(tail)
          : Buffer.concat([...this.held, tail]);
      exchange = this.observer.request({
        method: head.method,
        target: head.target,
        version: head.version,
        headers: head.headers,
        raw,
      });
    }
    const needsRewrite = head.hostCount === 0 || hostOf(head.hostValue) !== this.hostname;
    if (!needsRewrite) {
      out.push(...this.held, tail);
    } else {
      const all = this.held.length === 0 ? tail : Buffer.concat([...this.held, tail]);
      const cutStart = head.hostCount === 0 ? head.requestLineEnd : head.hostStart;
      const cutEnd = head.hostCount === 0 ? head.requestLineEnd : head.hostEnd;
      out.push(Buffer.concat([all.subarray(0, cutStart), this.hostLine, all.subarray(cutEnd)]));
      this.rewritten++;
    }
    this.held = [];

    const connect = head.method === 'CONNECT';
    const request: PendingRequest<X> = {
      head: head.method === 'HEAD',
      kind: connect ? 'connect' : head.upgrade ? 'upgrade' : 'plain',
      answer: null,
      start: end - this.headLength,
      exchange,
    };
    this.current = request;
    if (this.followingAnswers && this.pending.length < MAX_PENDING) this.pending.push(request);
    else {
      if (this.followingAnswers) this.responsesLost(out);
      if (exchange !== undefined) this.observer?.unanswered(exchange);
    }
    // A CONNECT request has no content: what follows its head belongs to the tunnel, if any.
    if (connect || next === 0) {
      this.requestDone(out, end);
    } else if (next === 'chunked') {
      this.state = 'chunk-size';
      this.line = '';
    } else {
      this.state = 'body';
      this.remaining = next;
    }
  }

  /** How the body of this request is delimited (RFC 9112 §6), or why we stop parsing. */
  private framing(head: RequestHead): 'invalid' | 'chunked' | number {
    // Duplicate Host, or both framings (a request-smuggling shape): let the ingress judge it untouched.
    if (head.hostCount > 1) return 'invalid';
    if (head.transferEncoding !== null && head.contentLength !== null) return 'invalid';
    if (head.transferEncoding !== null) {
      const codings = head.transferEncoding.split(',').map((c) => trimOws(c).toLowerCase());
      return codings[codings.length - 1] === 'chunked' ? 'chunked' : 'invalid';
    }
    if (head.contentLength !== null) return contentLength(head.contentLength) ?? 'invalid';
    return 0;
  }

  /** A chunked-body line ended; true when it ended the request. */
  private bodyLineComplete(line: string, out: Buffer[]): boolean {
    if (this.state === 'chunk-size') {
      const m = CHUNK_SIZE_LINE.exec(line);
      if (m === null) {
        this.toPassthrough(out, 'unparsed');
        return false;
      }
      const size = parseInt(m[1] as string, 16);
      if (size === 0) {
        this.state = 'trailers';
        this.trailerBytes = 0;
      } else {
        this.state = 'chunk-data';
        this.remaining = size;
      }
    } else if (this.state === 'chunk-data-end') {
      if (line === '') this.state = 'chunk-size';
      else this.toPassthrough(out, 'unparsed');
    } else if (line === '') {
      return true;
    }
    return false;
  }

  private responseHeadLine(line: string, out: Buffer[]): void {
    if (this.resStatus < 0) {
      // Tolerate a stray CRLF after a body (some servers send one); anything else must be a status line.
      if (line === '' && this.resHeadBytes <= 4) return;
      const m = STATUS_LINE.exec(line);
      if (m === null) return this.responsesLost(out);
      this.resStatus = Number(m[1]);
      this.resStart = this.resAt - this.resHeadBytes;
      return;
    }
    if (line === '') return this.responseHeadComplete(out);
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) return this.responsesLost(out);
    const value = trimOws(line.slice(colon + 1));
    if (this.observer !== null) this.resHeaders.push(name, value);
    // Only two names matter here: lowercase only names of their lengths.
    if (colon !== 14 && colon !== 17) return;
    switch (name.toLowerCase()) {
      case 'content-length':
        this.resContentLength = this.resContentLength === null ? value : `${this.resContentLength},${value}`;
        break;
      case 'transfer-encoding':
        this.resTransferEncoding =
          this.resTransferEncoding === null ? value : `${this.resTransferEncoding},${value}`;
        break;
    }
  }

  /** A response head ended: match it to its request and find where its body ends (RFC 9112 §6.3). */
  private responseHeadComplete(out: Buffer[]): void {
    const status = this.resStatus;
    const contentLengthValue = this.resContentLength;
    const transferEncoding = this.resTransferEncoding;
    const headers = this.resHeaders;
    this.resStatus = -1;
    this.resHeadBytes = 0;
    this.resContentLength = null;
    this.resTransferEncoding = null;
    this.resHeaders = [];
    this.res = 'head';
    // 1xx (100 Continue, 103 Early Hints) are interim: the final answer follows.
    if (status < 200 && status !== 101) return;

    const request = this.pending.shift();
    const switched = status === 101 || (request?.kind === 'connect' && status < 300);
    this.resExchange = request?.exchange;
    this.observer?.response(this.resExchange, status, headers, switched);
    if (switched) {
      // From here both directions are the new protocol or the tunnel.
      if (request !== undefined) request.answer = 'switched';
      this.toPassthrough(out, 'switched');
      return;
    }
    if (request !== undefined) {
      request.answer = 'declined';
      if (this.state === 'await-answer' && this.awaited === request) this.resume(out);
      // Parsing what was held may have given up on answers.
      if (!this.followingAnswers) return;
    }

    if (request?.head === true || status === 204 || status === 304) return this.responseDone();
    if (transferEncoding !== null) {
      const codings = transferEncoding.split(',').map((c) => trimOws(c).toLowerCase());
      if (codings[codings.length - 1] === 'chunked') this.res = 'chunk-size';
      // Any other coding: the body ends at close, and nothing after it can be matched.
      else this.responsesLost(out);
      return;
    }
    if (contentLengthValue === null) return this.responsesLost(out);
    const n = contentLength(contentLengthValue);
    if (n === null) return this.responsesLost(out);
    if (n > 0) {
      this.res = 'body';
      this.resRemaining = n;
    } else {
      this.responseDone();
    }
  }

  /** The response being read ended at `resAt`. */
  private responseDone(): void {
    const exchange = this.resExchange;
    this.resExchange = undefined;
    if (exchange !== undefined) this.observer?.responseEnd(exchange, this.resAt - this.resStart);
  }

  private responseBodyLine(line: string, out: Buffer[]): void {
    if (this.res === 'chunk-size') {
      const m = CHUNK_SIZE_LINE.exec(line);
      if (m === null) return this.responsesLost(out);
      const size = parseInt(m[1] as string, 16);
      if (size === 0) {
        this.res = 'trailers';
        this.resTrailerBytes = 0;
      } else {
        this.res = 'chunk-data';
        this.resRemaining = size;
      }
    } else if (this.res === 'chunk-data-end') {
      if (line === '') this.res = 'chunk-size';
      else this.responsesLost(out);
    } else if (line === '') {
      this.res = 'head';
      this.responseDone();
    }
  }
}

/** HostRewriter as a stream stage between the client and the ingress. */
export class HostRewriteStream extends Transform {
  readonly rewriter: HostRewriter;

  constructor(target: HostRewriteTarget) {
    super();
    this.rewriter = new HostRewriter(target);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (const part of this.rewriter.push(chunk)) this.push(part);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    for (const part of this.rewriter.end()) this.push(part);
    callback();
  }
}
