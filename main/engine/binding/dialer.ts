/**
 * Dials the binding ingress (shared/ngrok-protocol.md §3): TCP, TLS >= 1.2 with the client
 * certificate and SNI, one ConnRequest frame out, one ConnResponse frame in, then the socket is a
 * raw byte stream. Every local connection costs one dial, so TLS sessions are cached and resumed,
 * and a few verified connections are kept warm (warm-pool.ts). Failures become NgrokdErrors a user
 * can act on (dial-errors.ts); nothing is written before the server certificate has been verified.
 */
import { createConnection, isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import type { NgrokdError } from '../../common/errors.ts';
import {
  FrameAccumulator,
  decodeConnResponseMessage,
  encodeConnRequest,
  type ConnRequest,
  type ConnResponse,
  type PodIdentity,
} from './frames.ts';
import {
  classifyHandshakeError,
  clientCertificateRejected,
  describeError,
  ingressReset,
  ingressUnreachable,
  isCertificateAlert,
  ingressUntrusted,
  responseTruncated,
  upgradeRefused,
} from './dial-errors.ts';
import { applyKeepalive, DEFAULT_KEEPALIVE, type KeepaliveTimers } from '../../system/tcp-keepalive.ts';
import { resetConnection } from '../../system/abortive-close.ts';
import { parseIngressAddress } from './ingress-address.ts';
import { createIngressContext, type ClientCredentials, type IngressTrust } from './trust.ts';
import { DEFAULT_WARM_CONNECTIONS, DEFAULT_WARM_IDLE_MS, WarmPool } from './warm-pool.ts';
import {
  EARLY_PROBE_RETRY_MS,
  EARLY_PROBE_TIMEOUT_MS,
  EARLY_RETRY_WINDOW_FLOOR_MS,
  EARLY_VERDICT_TTL_MS,
  EarlyBytes,
  earlyDataProbeRequest,
  isHttpAnswer,
  type EarlyDataMode,
  type EarlyDataVerdict,
} from './early-data.ts';

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
export const DEFAULT_SESSION_CACHE_SIZE = 128;

export interface BindingDialerOptions {
  /** `host[:port]` of the binding ingress; the port defaults to 443. */
  ingress: string;
  /** SNI and the name the certificate must carry. Default: the ingress host. */
  servername?: string;
  credentials: ClientCredentials;
  trust: IngressTrust;
  /** Covers connect, TLS handshake and ConnResponse. */
  dialTimeoutMs?: number;
  sessionCacheSize?: number;
  /**
   * Verified connections kept ready for the next dial (any endpoint: the ConnRequest picks it),
   * topped up after dials. 0 turns the pool off.
   */
  warmConnections?: number;
  /** A warm connection unused this long is closed, and the pool is only refilled this soon after a dial. */
  warmIdleMs?: number;
  /** The most warm connections when dials come in bursts (default max(warmConnections, DEFAULT_WARM_MAX)). */
  warmMax?: number;
  /** How long the last warm connection stays after warmIdleMs (default 5 minutes; 0: none). */
  warmLingerMs?: number;
  /** TCP keepalive on every ingress connection, warm ones included; default DEFAULT_KEEPALIVE. */
  keepalive?: KeepaliveTimers;
  /** Send a client's first bytes right behind the ConnRequest (early-data.ts); default `auto`. */
  earlyData?: EarlyDataMode;
  /** How long the early-data probe waits for an answer; default EARLY_PROBE_TIMEOUT_MS. */
  earlyProbeTimeoutMs?: number;
  /**
   * A warm connection that carried early bytes and died without answering is only retried when it
   * died this soon after the write (default: twice the measured round trip, at least 100 ms).
   */
  earlyRetryWindowMs?: number;
}

export interface DialOptions {
  /** Aborting destroys the connection and rejects with the signal's reason. */
  signal?: AbortSignal;
  podIdentity?: PodIdentity;
  /**
   * The client's first bytes, sent right behind the ConnRequest (and again on the fresh connection
   * that replaces a stale warm one). Only when `sendsEarlyData()` said so; settled by the dial.
   */
  early?: EarlyBytes;
}

export interface BindingConnection {
  /**
   * Paused; bytes the ingress sent after the ConnResponse frame were unshifted back into it. The
   * dialer keeps an 'error' listener that ignores errors, so attach your own to see them.
   */
  socket: TLSSocket;
  response: ConnResponse;
  /** Time from dial() to the ConnResponse, ms. */
  upgradeMs: number;
  /** Whether the TLS session was resumed (by the warm connection's handshake, when warm). */
  resumed: boolean;
  /** Whether a warm connection was used, so the dial cost no TCP or TLS round trip. */
  warm: boolean;
}

/** What the forwarder needs from a dialer (tests substitute their own). */
/** What `probe()` measured. */
export interface IngressProbe {
  ingress: string;
  address: string | null;
  /** The TCP connect: one round trip. */
  tcpMs: number;
  /** The full TLS handshake (with the client certificate, no resumption). */
  tlsMs: number;
  protocol: string | null;
  cipher: string;
  /** The verified server certificate's subject. */
  serverCertificate: string | null;
  /** Whether new connections send their first bytes right behind the ConnRequest, and why. */
  earlyData: string;
}

export interface Dialer {
  dial(host: string, port: number, options?: DialOptions): Promise<BindingConnection>;
  /** Whether a dial may carry early bytes now; absent: never. */
  sendsEarlyData?(): boolean;
  /** An http endpoint is in use: find out, once, whether the ingress keeps early bytes. */
  learnEarlyData?(host: string, port: number): void;
}

function ignoreError(): void {}

/** A pooled connection died before answering, most likely closed by the ingress while idle. */
class StaleConnection extends Error {}

interface CachedSession {
  ticket: Buffer;
  /** TLS 1.2: may be resumed more than once. */
  reusable: boolean;
}

export class BindingDialer implements Dialer {
  readonly host: string;
  readonly port: number;
  readonly servername: string | undefined;
  /** `host:port` as dialed. */
  readonly ingress: string;
  private readonly timeoutMs: number;
  private readonly sessionCacheSize: number;
  private trust: IngressTrust;
  private credentials: ClientCredentials;
  private context: SecureContext;
  /** Newest last. A session belongs to the context (credentials and trust) it was made with. */
  private sessions: CachedSession[] = [];
  private readonly pool: WarmPool;
  private readonly keepalive: KeepaliveTimers;
  private lastRemoteAddress: string | null = null;
  private closed = false;
  /** Dials served by a warm (pre-handshaken) connection, for metrics. */
  warmHits = 0;
  /** Dials that found the pool empty and made a fresh handshake. */
  warmMisses = 0;
  /** Warm connections found dead at use (retried fresh; also counted as a miss). */
  warmStale = 0;
  /** Dials that carried early bytes. */
  earlyDials = 0;
  readonly earlyDataMode: EarlyDataMode;
  private readonly earlyProbeTimeoutMs: number;
  private readonly earlyRetryWindowMs: number | undefined;
  /** Smoothed TCP connect time to the ingress: one round trip. */
  #rttMs: number | null = null;
  /** When the `kept` verdict is to be checked again (performance.now()). */
  #keptUntil = 0;
  #earlyVerdict: EarlyDataVerdict = 'unknown';
  /** A probe is out: one at a time. */
  #probing = false;
  /** No probe before this (performance.now()), after one that got no answer. */
  #probeAfter = 0;

  constructor(options: BindingDialerOptions) {
    const address = parseIngressAddress(options.ingress);
    this.host = address.host;
    this.port = address.port;
    this.ingress = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    this.servername = options.servername ?? (isIP(address.host) === 0 ? address.host : undefined);
    this.timeoutMs = options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.sessionCacheSize = options.sessionCacheSize ?? DEFAULT_SESSION_CACHE_SIZE;
    this.trust = options.trust;
    this.credentials = options.credentials;
    this.context = createIngressContext(this.trust, this.credentials);
    this.keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
    this.earlyDataMode = options.earlyData ?? 'auto';
    this.earlyProbeTimeoutMs = options.earlyProbeTimeoutMs ?? EARLY_PROBE_TIMEOUT_MS;
    this.earlyRetryWindowMs = options.earlyRetryWindowMs;
    this.pool = new WarmPool({
      size: options.warmConnections ?? DEFAULT_WARM_CONNECTIONS,
      idleMs: options.warmIdleMs ?? DEFAULT_WARM_IDLE_MS,
      ...(options.warmMax === undefined ? {} : { maxSize: options.warmMax }),
      ...(options.warmLingerMs === undefined ? {} : { lingerMs: options.warmLingerMs }),
      timeoutMs: this.timeoutMs,
      context: () => this.context,
      handshake: (context, signal) => this.handshake(context, signal, true),
    });
  }

  /** Switch to a renewed certificate; connections already open keep the old one. */
  setCredentials(credentials: ClientCredentials): void {
    this.context = createIngressContext(this.trust, credentials);
    this.credentials = credentials;
    this.sessions = [];
    this.pool.drop();
  }

  setTrust(trust: IngressTrust): void {
    this.context = createIngressContext(trust, this.credentials);
    this.trust = trust;
    this.sessions = [];
    this.pool.drop();
  }

  /**
   * The network path changed (or the machine woke up): warm connections and cached TLS sessions
   * belong to the old one, where they would only hang the next dial, so they go. Open connections
   * are their owners'; keepalive finds out whether they survived.
   */
  resetPath(): void {
    this.sessions = [];
    this.pool.drop();
    // Another path may lead to another ingress, which may treat early bytes differently.
    this.#forgetEarlyVerdict();
  }

  #forgetEarlyVerdict(): void {
    this.#earlyVerdict = 'unknown';
    this.#probeAfter = 0;
  }

  /**
   * Forget cached sessions, close warm connections and refuse new dials; open connections are
   * their owners' to close.
   */
  close(): void {
    this.closed = true;
    this.sessions = [];
    this.pool.close();
  }

  /** The ingress's IP address as last connected to, null before the first connection. */
  get remoteAddress(): string | null {
    return this.lastRemoteAddress;
  }

  get cachedSessions(): number {
    return this.sessions.length;
  }

  /** What the probe found out about early bytes at this ingress (`auto` mode). */
  get earlyDataVerdict(): EarlyDataVerdict {
    return this.#earlyVerdict;
  }

  /** For the doctor: whether early data is in use, and why. */
  describeEarlyData(): string {
    if (this.earlyDataMode !== 'auto') return `early data ${this.earlyDataMode} (connections.early_data)`;
    const why: Record<EarlyDataVerdict, string> = {
      kept: 'on: the ingress kept the probe sent ahead of its answer',
      dropped: 'off: the ingress did not pass on the probe sent ahead of its answer',
      unknown: this.#probing
        ? 'being tried'
        : 'not tried yet (the first connection to an http endpoint tries it)',
    };
    return `early data ${why[this.#earlyVerdict]}`;
  }

  sendsEarlyData(): boolean {
    return this.earlyDataMode === 'on' || (this.earlyDataMode === 'auto' && this.#earlyVerdict === 'kept');
  }

  learnEarlyData(host: string, port: number): void {
    if (this.earlyDataMode !== 'auto' || this.closed || this.#probing) return;
    // A `kept` is checked again now and then (the ingress may change); early data stays on meanwhile.
    const due = this.#earlyVerdict === 'kept' ? this.#keptUntil : this.#probeAfter;
    if (performance.now() < due) return;
    this.#probing = true;
    void this.probeEarlyData(host, port).then((verdict) => {
      this.#probing = false;
      const at = performance.now();
      if (verdict === 'unknown' && this.#earlyVerdict === 'kept') {
        this.#keptUntil = at + 30_000; // the dial failed: that says nothing about early bytes
        return;
      }
      this.#earlyVerdict = verdict;
      this.#keptUntil = at + EARLY_VERDICT_TTL_MS;
      // No answer: not soon again. A failed dial (the endpoint offline?): after a short pause.
      this.#probeAfter = at + (verdict === 'dropped' ? EARLY_PROBE_RETRY_MS : 30_000);
    });
  }

  /**
   * Dial `host:port` (an http endpoint) on a connection of its own (not from the warm pool, not
   * counted) with an `OPTIONS *` request as early bytes: its first line in the same write as the
   * ConnRequest, the rest in a later one, as a client's bytes come on a warm connection. An HTTP
   * answer other than 400 or 408 means the ingress kept both (`kept`); no answer, not HTTP, or a
   * 400/408 (the request arrived cut) is `dropped` (connections then wait for the ConnResponse); a
   * dial that fails tells nothing (`unknown`, asked again later).
   */
  async probeEarlyData(host: string, port: number): Promise<EarlyDataVerdict> {
    const [head, rest] = earlyDataProbeRequest(host, port);
    const early = new EarlyBytes();
    early.write(head);
    const signal = AbortSignal.timeout(this.timeoutMs);
    let socket: TLSSocket;
    let answered = false;
    try {
      const fresh = await this.handshake(this.context, signal, true);
      setImmediate(() => early.write(rest));
      ({ socket } = await this.upgrade(fresh, { host, port }, signal, null, early));
      answered = true;
    } catch {
      return 'unknown';
    } finally {
      early.settle(answered);
    }
    return new Promise<EarlyDataVerdict>((resolve) => {
      let answer = Buffer.alloc(0);
      const finish = (): void => {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.destroy();
        resolve(isHttpAnswer(answer) ? 'kept' : 'dropped');
      };
      const onData = (chunk: Buffer): void => {
        answer = Buffer.concat([answer, chunk]);
        if (answer.length >= 12 || answer.includes(10)) finish();
      };
      const timer = setTimeout(finish, this.earlyProbeTimeoutMs);
      timer.unref();
      socket.on('data', onData);
      socket.once('end', finish);
      socket.once('close', finish);
      socket.resume();
    });
  }

  /** Warm connections ready for the next dial. */
  get warmSockets(): number {
    return this.pool.ready;
  }

  /**
   * The doctor's look at the ingress, outside the pool: a TCP connect (its time is one round trip),
   * then a full TLS handshake with no resumption, verified against the configured trust and
   * presenting the client certificate. Fails with the dial's own errors (INGRESS_UNTRUSTED, …).
   */
  async probe(timeoutMs = this.timeoutMs): Promise<IngressProbe> {
    const signal = AbortSignal.timeout(timeoutMs);
    const tcpStarted = performance.now();
    await new Promise<void>((resolve, reject) => {
      const socket = createConnection({ host: this.host, port: this.port });
      const fail = (err: unknown): void => {
        socket.destroy();
        reject(
          this.unreachable(signal.aborted ? `no TCP connection within ${timeoutMs} ms` : describeError(err)),
        );
      };
      socket.once('error', fail);
      signal.addEventListener('abort', fail, { once: true });
      socket.once('connect', () => {
        signal.removeEventListener('abort', fail);
        socket.destroy();
        resolve();
      });
    });
    const tcpMs = performance.now() - tcpStarted;
    const tlsStarted = performance.now();
    const socket = await this.handshake(this.context, signal, true, true).catch((err: unknown) => {
      throw signal.aborted ? this.unreachable(`no TLS handshake within ${timeoutMs} ms`) : err;
    });
    const tlsMs = performance.now() - tlsStarted;
    const peer = socket.getPeerX509Certificate();
    const result: IngressProbe = {
      ingress: this.ingress,
      address: socket.remoteAddress ?? null,
      tcpMs,
      tlsMs,
      protocol: socket.getProtocol(),
      cipher: socket.getCipher().standardName,
      serverCertificate: peer?.subject.replace(/\n/g, ', ') ?? null,
      earlyData: this.describeEarlyData(),
    };
    socket.destroy();
    return result;
  }

  async dial(host: string, port: number, options: DialOptions = {}): Promise<BindingConnection> {
    const started = performance.now();
    const { signal } = options;
    if (signal?.aborted) throw signal.reason;
    if (this.closed) throw this.unreachable('the dialer was closed');
    this.pool.dialed(started);
    const request: ConnRequest = { host, port, podIdentity: options.podIdentity };

    // One deadline and one abort for the whole dial, a stale warm connection's retry included.
    const dial = new AbortController();
    let handshaking = false;
    const timer = setTimeout(() => {
      const what = handshaking
        ? 'complete the connection and TLS handshake'
        : 'answer the connection request';
      dial.abort(this.unreachable(`it did not ${what} within ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    const onAbort = (): void => dial.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const { early } = options;
    let answered = false;
    if (early !== undefined) this.earlyDials++;
    try {
      const pooled = this.pool.take();
      if (pooled !== undefined) {
        try {
          const upgraded = await this.upgrade(pooled, request, dial.signal, this.retryWindow(), early);
          this.warmHits++;
          answered = true;
          return this.connected(upgraded, started, true);
        } catch (err) {
          if (!(err instanceof StaleConnection)) {
            this.warmHits++; // used, and the ingress answered (a refusal is still an answer)
            throw err;
          }
          // Nothing came back: the ingress answered nothing, and it died too soon to have taken
          // the early bytes (StaleConnection says so), so they go again, on a fresh connection.
          early?.detach();
          this.warmStale++;
          // The rest of the pool is older still: drop it, the refill after this dial replaces it.
          this.pool.drop({ pending: false });
        }
      }
      handshaking = true;
      this.warmMisses++;
      const socket = await this.handshake(this.context, dial.signal);
      handshaking = false;
      const upgraded = await this.upgrade(socket, request, dial.signal, null, early);
      answered = true;
      return this.connected(upgraded, started, false);
    } finally {
      early?.settle(answered);
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.pool.dialEnded();
    }
  }

  private connected(
    upgraded: { socket: TLSSocket; response: ConnResponse },
    started: number,
    warm: boolean,
  ): BindingConnection {
    const connection = {
      ...upgraded,
      upgradeMs: performance.now() - started,
      resumed: upgraded.socket.isSessionReused(),
      warm,
    };
    // After the caller has had its turn with the connection it asked for.
    setImmediate(() => this.pool.refill());
    return connection;
  }

  /**
   * TCP and TLS to the ingress. Resolves once the server certificate has been verified; nothing
   * has been written by then. Failures are classified here, except TLS 1.3's late rejection of the
   * client certificate (an alert after the handshake), which only shows once a response is awaited.
   */
  private handshake(
    context: SecureContext,
    signal: AbortSignal,
    background = false,
    fresh = false,
  ): Promise<TLSSocket> {
    // TLS 1.3 tickets are meant to be used once: take the newest, the socket brings fresh ones.
    // A TLS 1.2 session may be resumed again and again (and brings no new one when resumed), also
    // by handshakes running at the same time: leave it in the cache. A fresh handshake (the
    // doctor's) resumes nothing, so the server certificate is verified again.
    const newest = fresh ? undefined : this.sessions.at(-1);
    if (newest !== undefined && !newest.reusable) this.sessions.pop();
    const session = newest?.ticket;
    return new Promise<TLSSocket>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      // allowHalfOpen is honoured by tls.connect but missing from its typings.
      const connectOptions: ConnectionOptions & { allowHalfOpen: boolean } = {
        host: this.host,
        port: this.port,
        servername: this.servername,
        secureContext: context,
        session,
        allowHalfOpen: true,
      };
      const socket = connect(connectOptions);
      // A path that dies under this connection (sleep, another network) must fail it in seconds.
      const connectStarted = performance.now();
      socket.once('connect', () => {
        applyKeepalive(socket, this.keepalive);
        const rtt = performance.now() - connectStarted;
        this.#rttMs = this.#rttMs === null ? rtt : 0.75 * this.#rttMs + 0.25 * rtt;
      });
      // One small request, then an interactive stream. With Nagle's algorithm on, the ConnRequest
      // on a warm connection was held back ~25 ms (measured against the simulator).
      socket.setNoDelay(true);
      // Background work must never keep the process alive.
      if (background) socket.unref();
      socket.on('session', (ticket: Buffer) => {
        if (context === this.context && !this.closed)
          this.storeSession({ ticket, reusable: socket.getProtocol() === 'TLSv1.2' });
      });
      // Stays attached: late errors belong to whoever uses the socket.
      socket.on('error', ignoreError);

      const done = (): void => {
        socket.off('error', onError);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.off('secureConnect', onSecureConnect);
        signal.removeEventListener('abort', onAbort);
      };
      const fail = (err: unknown): void => {
        done();
        socket.destroy();
        reject(err);
      };
      const onError = (err: NodeJS.ErrnoException): void => {
        const failure = classifyHandshakeError(err, socket.authorizationError);
        if (failure === 'untrusted') fail(ingressUntrusted(this.ingress, this.trust.sources, err));
        else if (failure === 'certificate-rejected')
          fail(clientCertificateRejected(this.ingress, `TLS alert ${describeError(err)}`));
        else if (failure === 'reset')
          fail(ingressReset(this.ingress, 'during the TLS handshake', describeError(err)));
        else fail(this.unreachable(describeError(err)));
      };
      const onEnd = (): void =>
        fail(
          ingressReset(
            this.ingress,
            'during the TLS handshake',
            'it closed the connection without a TLS alert',
          ),
        );
      const onSecureConnect = (): void => {
        // Node only gets here when the server certificate verified (rejectUnauthorized).
        done();
        const address = socket.remoteAddress ?? this.lastRemoteAddress;
        // Another ingress address may be another ingress: what it does with early bytes is its own.
        if (this.lastRemoteAddress !== null && address !== this.lastRemoteAddress) this.#forgetEarlyVerdict();
        this.lastRemoteAddress = address;
        resolve(socket);
      };
      const onAbort = (): void => fail(signal.reason);

      socket.on('error', onError);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
      socket.once('secureConnect', onSecureConnect);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Send the ConnRequest (and the early bytes behind it) and read the ConnResponse. On success the
   * socket is paused with any bytes after the response unshifted. A warm connection that dies before the first response byte
   * rejects with StaleConnection, so the dial can retry with a fresh handshake.
   */
  private upgrade(
    socket: TLSSocket,
    request: ConnRequest,
    signal: AbortSignal,
    staleWithinMs: number | null,
    early: EarlyBytes | undefined,
  ): Promise<{ socket: TLSSocket; response: ConnResponse }> {
    return new Promise((resolve, reject) => {
      const frames = new FrameAccumulator();
      const wroteAt = performance.now();
      // A warm connection may be retried when it dies unanswered, if nothing but the ConnRequest
      // went out, or the early bytes with it and it died within the window: a close or reset that
      // comes back that soon was on its way before the ingress could have taken them.
      const stale = (): boolean =>
        staleWithinMs !== null &&
        frames.buffered === 0 &&
        (early === undefined || early.bytes === 0 || performance.now() - wroteAt <= staleWithinMs);
      const done = (): void => {
        socket.off('data', onData);
        socket.off('error', onClosed);
        socket.off('end', onClosed);
        socket.off('close', onClosed);
        signal.removeEventListener('abort', onAbort);
      };
      const fail = (err: unknown): void => {
        done();
        // Early bytes went out: the service must not take the part it got for a whole stream.
        if (early !== undefined && early.bytes > 0) resetConnection(socket);
        else socket.destroy();
        reject(err);
      };
      const onClosed = (err?: NodeJS.ErrnoException | boolean): void => {
        const error = err instanceof Error ? err : undefined;
        if (stale()) fail(new StaleConnection(error?.message ?? 'closed'));
        // TLS 1.3 rejects a client certificate after the handshake, with an alert: it shows up here.
        else if (error !== undefined && isCertificateAlert(error))
          fail(
            clientCertificateRejected(this.ingress, `TLS alert ${describeError(error)} after the handshake`),
          );
        else if (frames.buffered < 2)
          fail(
            error === undefined || classifyHandshakeError(error, null) === 'reset'
              ? ingressReset(
                  this.ingress,
                  'before answering the connection request',
                  error === undefined ? 'it closed the connection without a TLS alert' : describeError(error),
                )
              : this.unreachable(`the connection failed before the response: ${describeError(error)}`),
          );
        else if (error === undefined) fail(responseTruncated(this.ingress, frames.buffered));
        else
          fail(this.unreachable(`the connection failed while reading the response: ${describeError(error)}`));
      };
      const onData = (chunk: Buffer): void => {
        let result: ReturnType<FrameAccumulator['push']>;
        let response: ConnResponse;
        try {
          result = frames.push(chunk);
          if (result === null) return;
          response = decodeConnResponseMessage(result.message);
        } catch (err) {
          fail(err);
          return;
        }
        if (response.errorCode !== '' || response.errorMessage !== '') {
          fail(upgradeRefused(request.host, request.port, response));
          return;
        }
        socket.pause();
        done();
        if (result.rest.length > 0) socket.unshift(result.rest);
        resolve({ socket, response });
      };
      const onAbort = (): void => fail(signal.reason);

      if (signal.aborted) {
        onAbort();
        return;
      }
      socket.on('data', onData);
      socket.on('error', onClosed);
      socket.on('end', onClosed);
      socket.on('close', onClosed);
      signal.addEventListener('abort', onAbort, { once: true });
      if (early === undefined) {
        socket.write(encodeConnRequest(request));
        return;
      }
      // The ConnRequest and the bytes so far in one go (one TLS write each, one segment).
      socket.cork();
      socket.write(encodeConnRequest(request));
      early.attach(socket);
      socket.uncork();
    });
  }

  /** How soon a warm connection carrying early bytes must die to be taken for a stale one. */
  private retryWindow(): number {
    return this.earlyRetryWindowMs ?? Math.max(2 * (this.#rttMs ?? 0), EARLY_RETRY_WINDOW_FLOOR_MS);
  }

  private storeSession(session: CachedSession): void {
    this.sessions.push(session);
    if (this.sessions.length > this.sessionCacheSize) this.sessions.shift();
  }

  private unreachable(reason: string): NgrokdError {
    return ingressUnreachable(this.ingress, this.port, reason);
  }
}
