/**
 * Early data: a local client's first bytes sent right behind the ConnRequest, instead of one round
 * trip later behind the ConnResponse, so a new connection costs one round trip to the ingress
 * instead of two.
 *
 * Whether the ingress keeps bytes that arrive before it has answered is not confirmed (a server
 * that reads the header through a buffered reader and then copies from the raw connection drops
 * them). So in `auto` mode nothing is sent early until the ingress has shown it keeps such bytes:
 * once per dialer, an `OPTIONS *` request (RFC 9110 §9.3.7, the request that asks a server about
 * itself and changes nothing) goes to an http endpoint that is being used, right behind its
 * ConnRequest. Any HTTP answer means the bytes reached the service, so the ingress keeps them; no
 * answer means they were lost (or the service would not say), and connections keep waiting for the
 * ConnResponse. Either way no client byte is ever at stake: the probe is the dialer's own.
 */
import type { Writable } from 'node:stream';

/** `auto`: after the ingress has shown it keeps early bytes; `on`: always; `off`: never. */
export type EarlyDataMode = 'auto' | 'on' | 'off';
export const EARLY_DATA_MODES: readonly EarlyDataMode[] = ['auto', 'on', 'off'];

/** What is known about this ingress. */
export type EarlyDataVerdict = 'unknown' | 'kept' | 'dropped';

/** Bytes held for one dial before the ingress answers; past this the client is paused until it does. */
export const EARLY_DATA_LIMIT = 64 * 1024;
/** How long the probe waits for the service's answer. */
export const EARLY_PROBE_TIMEOUT_MS = 5_000;
/** After a probe without an answer, the next one waits this long. */
export const EARLY_PROBE_RETRY_MS = 10 * 60_000;
/** A `kept` verdict is checked again after this long (early data stays on meanwhile). */
export const EARLY_VERDICT_TTL_MS = 60 * 60_000;
/**
 * The least time after the write within which a warm connection with early bytes that died
 * unanswered is taken for stale and retried (twice the round trip when that is longer).
 */
export const EARLY_RETRY_WINDOW_FLOOR_MS = 100;

/**
 * One dial's early bytes: the forwarder writes them as the client sends them (after its Host
 * rewrite); the dialer attaches the ingress connection right after writing the ConnRequest, and
 * everything written so far follows it, in order. A copy is kept until the ingress has answered,
 * so a warm connection found dead before any byte came back can be replaced and given the same
 * bytes again. When the ingress refuses the dial, the bytes reached no service (it connects none
 * for a refusal): the forwarder answers the client itself, as without early data.
 */
export class EarlyBytes {
  readonly limit: number;
  #copies: Buffer[] = [];
  #bytes = 0;
  #sink: Writable | null = null;
  #settled = false;

  constructor(limit = EARLY_DATA_LIMIT) {
    this.limit = limit;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queue (and, once attached, send) `chunk`. False when the copy is at its limit: pause the source
   * until the dial is over.
   */
  write(chunk: Buffer): boolean {
    this.#bytes += chunk.length;
    if (this.#settled) {
      // Between the dial's end and the forwarder taking over: straight through (or nowhere).
      return this.#sink === null || this.#sink.write(chunk);
    }
    this.#copies.push(chunk);
    this.#sink?.write(chunk);
    return this.#bytes < this.limit;
  }

  /** The dialer: the ConnRequest has just been written to `socket`; everything so far follows it. */
  attach(socket: Writable): void {
    this.#sink = socket;
    for (const chunk of this.#copies) socket.write(chunk);
  }

  /** The dialer: that connection is gone before answering; the next attach() sends it all again. */
  detach(): void {
    this.#sink = null;
  }

  /**
   * The dial is over: the copy goes. Answered, later writes go straight to the connection; refused
   * or failed (`answered` false), they go nowhere.
   */
  settle(answered: boolean): void {
    this.#settled = true;
    if (!answered) this.#sink = null;
    this.#copies = [];
  }
}

/**
 * The probe's request for `host:port`, which asks the server about itself and nothing else, in two
 * parts: its request line, sent with the ConnRequest, and the rest, sent a moment later. An ingress
 * that loses either gets no answer, or a 400.
 */
export function earlyDataProbeRequest(host: string, port: number): [Buffer, Buffer] {
  const authority = port === 80 ? host : `${host}:${port}`;
  return [
    Buffer.from('OPTIONS * HTTP/1.1\r\n', 'latin1'),
    Buffer.from(
      `Host: ${authority}\r\nUser-Agent: ngrokd-early-data-probe\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      'latin1',
    ),
  ];
}

/**
 * Whether `bytes` (the first the service sent back) start an HTTP/1.x answer to a request that
 * arrived whole: not 400 (it came cut) nor 408 (a server tired of waiting for one).
 */
export function isHttpAnswer(bytes: Buffer): boolean {
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(bytes.subarray(0, 16).toString('latin1'))?.[1];
  return status !== undefined && status !== '400' && status !== '408';
}
