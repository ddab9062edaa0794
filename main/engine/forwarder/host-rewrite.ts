/**
 * Host header rewrite for http endpoints (shared/ngrok-protocol.md §3): a client that reached us by
 * IP sends `Host: 10.107.0.5` (or nothing), but the ingress routes on Host. This is an incremental
 * HTTP/1.x request parser for the client-to-ingress direction that rewrites Host on every request of
 * a keep-alive connection. It only needs message boundaries, so bodies are counted, never buffered.
 *
 * Safety rule: the output is always the input with, at most, Host lines replaced or inserted. As
 * soon as something is not plain HTTP/1.x (Upgrade, CONNECT, the HTTP/2 preface, TLS, a malformed
 * or oversized head, ambiguous framing) it switches to passthrough and emits every byte it holds
 * unchanged and in order. Only request heads are held back; everything else is emitted as
 * subarrays of the input chunks.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** A request head (or a chunked trailer section) larger than this is not parsed. */
export const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_SIZE_LINE = 4096;
const MAX_METHOD_LENGTH = 32;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TOKEN_PREFIX = /^[!#$%&'*+.^_`|~0-9A-Za-z-]*/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\s]+) HTTP\/1\.[01]$/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,13})[ \t]*(?:;[^\r]*)?$/;

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-data-end' | 'trailers' | 'passthrough';

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
  };
}

type LineVerdict = 'more' | 'done' | 'invalid';

export class HostRewriter {
  /** Requests whose Host was rewritten (or inserted). */
  rewritten = 0;

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

  constructor(target: HostRewriteTarget) {
    this.hostname = hostOf(target.hostname);
    this.hostLine = Buffer.from(`Host: ${hostHeaderValue(target)}\r\n`, 'latin1');
  }

  get passthrough(): boolean {
    return this.state === 'passthrough';
  }

  /** Feed client bytes; returns what to send upstream, in order. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const length = chunk.length;
    let pos = 0;
    /** Start of the bytes of `chunk` consumed but not yet emitted or held. */
    let emitStart = 0;

    while (pos < length) {
      switch (this.state) {
        case 'passthrough':
          pos = length;
          break;

        case 'body':
        case 'chunk-data': {
          const n = Math.min(this.remaining, length - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (this.state === 'chunk-data') {
              this.state = 'chunk-data-end';
            } else {
              this.startHead();
              if (emitStart < pos) out.push(chunk.subarray(emitStart, pos));
              emitStart = pos;
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
            this.state = 'passthrough';
          } else if (nl >= 0) {
            const requestDone = this.bodyLineComplete(stripEol(this.line));
            this.line = '';
            if (requestDone) {
              if (emitStart < pos) out.push(chunk.subarray(emitStart, pos));
              emitStart = pos;
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
              this.toPassthrough(out);
            break;
          }
          const text = this.partialLine + chunk.toString('latin1', pos, nl + 1);
          // The partial line's bytes were already counted in headLength.
          const lineStart = this.headLength - this.partialLine.length;
          this.partialLine = '';
          this.headLength += nl + 1 - pos;
          pos = nl + 1;
          const verdict = this.headLength > MAX_HEAD_BYTES ? 'invalid' : this.headLine(text, lineStart);
          if (verdict === 'invalid') {
            this.toPassthrough(out);
          } else if (verdict === 'done') {
            const headBytes = chunk.subarray(emitStart, pos);
            emitStart = pos;
            this.headComplete(headBytes, out);
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

  /** The input ended: whatever is still held goes out unchanged. */
  end(): Buffer[] {
    const out = this.held;
    this.held = [];
    return out;
  }

  private startHead(): void {
    this.state = 'head';
    this.head = emptyHead();
    this.headLength = 0;
    this.partialLine = '';
  }

  /** Give up parsing: everything held goes out unchanged, and so will everything after. */
  private toPassthrough(out: Buffer[]): void {
    out.push(...this.held);
    this.held = [];
    this.state = 'passthrough';
  }

  private headLine(text: string, lineStart: number): LineVerdict {
    const line = stripEol(text);
    const head = this.head;
    if (head.requestLineEnd < 0) {
      // RFC 9112 §2.2: ignore empty lines before the request line.
      if (line === '') return lineStart + text.length > MAX_METHOD_LENGTH ? 'invalid' : 'more';
      const m = REQUEST_LINE.exec(line);
      if (m === null) return 'invalid';
      head.method = m[1] as string;
      head.requestLineEnd = lineStart + text.length;
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
  private headComplete(tail: Buffer, out: Buffer[]): void {
    const head = this.head;
    const next = this.framing(head);
    if (next === 'invalid') {
      this.toPassthrough(out);
      out.push(tail);
      return;
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
    if (next === 'passthrough') {
      this.state = 'passthrough';
    } else if (next === 'chunked') {
      this.state = 'chunk-size';
      this.line = '';
    } else if (next > 0) {
      this.state = 'body';
      this.remaining = next;
    } else {
      this.startHead();
    }
  }

  /** How the body of this request is delimited (RFC 9112 §6), or why we stop parsing. */
  private framing(head: RequestHead): 'invalid' | 'passthrough' | 'chunked' | number {
    // Duplicate Host, or both framings (a request-smuggling shape): let the ingress judge it untouched.
    if (head.hostCount > 1) return 'invalid';
    if (head.transferEncoding !== null && head.contentLength !== null) return 'invalid';
    let next: 'chunked' | number = 0;
    if (head.transferEncoding !== null) {
      const codings = head.transferEncoding.split(',').map((c) => trimOws(c).toLowerCase());
      if (codings[codings.length - 1] !== 'chunked') return 'invalid';
      next = 'chunked';
    } else if (head.contentLength !== null) {
      const values = new Set(head.contentLength.split(',').map(trimOws));
      const [only] = values;
      if (values.size !== 1 || only === undefined || !/^[0-9]{1,15}$/.test(only)) return 'invalid';
      next = Number(only);
    }
    // After an upgrade or CONNECT the bytes are no longer HTTP/1.x; this head is still rewritten.
    if (head.upgrade || head.method === 'CONNECT') return 'passthrough';
    return next;
  }

  /** A chunked-body line ended; true when it ended the request. */
  private bodyLineComplete(line: string): boolean {
    if (this.state === 'chunk-size') {
      const m = CHUNK_SIZE_LINE.exec(line);
      if (m === null) {
        this.state = 'passthrough';
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
      this.state = line === '' ? 'chunk-size' : 'passthrough';
    } else if (line === '') {
      this.startHead();
      return true;
    }
    return false;
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
