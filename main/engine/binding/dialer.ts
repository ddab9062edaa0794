/**
 * Dials the binding ingress (shared/ngrok-protocol.md §3): TCP, TLS >= 1.2 with the client
 * certificate and SNI, one ConnRequest frame out, one ConnResponse frame in, then the socket is a
 * raw byte stream. Every local connection costs one dial, so TLS sessions are cached and resumed,
 * and a few verified connections are kept warm: TLS 1.3 resumes in as many round trips as a full
 * handshake, so only a connection that is already open saves the TCP and TLS round trips.
 * Failures become NgrokdErrors a user can act on; nothing is written before the server certificate
 * has been verified.
 */
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { NgrokdError } from '../../common/errors.ts';
import {
  FrameAccumulator,
  decodeConnResponseMessage,
  encodeConnRequest,
  type ConnRequest,
  type ConnResponse,
  type PodIdentity,
} from './frames.ts';
import { DEFAULT_TRUST_DIR } from '../../common/defaults.ts';
import { createIngressContext, type ClientCredentials, type IngressTrust } from './trust.ts';

export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
export const DEFAULT_SESSION_CACHE_SIZE = 128;
export const DEFAULT_WARM_CONNECTIONS = 2;
export const DEFAULT_WARM_IDLE_MS = 30_000;
const DEFAULT_INGRESS_PORT = 443;

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
}

export interface DialOptions {
  /** Aborting destroys the connection and rejects with the signal's reason. */
  signal?: AbortSignal;
  podIdentity?: PodIdentity;
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
export interface Dialer {
  dial(host: string, port: number, options?: DialOptions): Promise<BindingConnection>;
}

export interface IngressAddress {
  host: string;
  port: number;
}

/** Parse `host`, `host:port` or `[v6]:port`. */
export function parseIngressAddress(ingress: string): IngressAddress {
  const m =
    /^\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?$/.exec(ingress) ??
    /^([^:\s[\]]+)(?::([0-9]{1,5}))?$/.exec(ingress);
  const port = m?.[2] === undefined ? DEFAULT_INGRESS_PORT : Number(m[2]);
  if (m === null || port < 1 || port > 65535) {
    throw new NgrokdError(
      'CONFIG_INVALID',
      `ingress endpoint ${JSON.stringify(ingress)} is not host[:port]`,
      'Set ingressEndpoint to host[:port], for example kubernetes-binding-ingress.ngrok.io:443, or remove it.',
    );
  }
  return { host: m[1] as string, port };
}

/** OpenSSL's certificate verification results (X509_V_ERR_*) as Node reports them, plus Node's name check. */
const VERIFY_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** TLS alerts by which a server says it does not accept our certificate. */
const CLIENT_CERT_ALERT =
  /ALERT_(?:BAD_CERTIFICATE|CERTIFICATE_\w+|UNSUPPORTED_CERTIFICATE|UNKNOWN_CA|ACCESS_DENIED)/;

function ignoreError(): void {}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e === null || typeof e !== 'object') return String(err);
  return e.code !== undefined && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
}

/** A pooled connection died before answering, most likely closed by the ingress while idle. */
class StaleConnection extends Error {}

interface CachedSession {
  ticket: Buffer;
  /** TLS 1.2: may be resumed more than once. */
  reusable: boolean;
}

/** A verified connection that has not sent its ConnRequest yet. */
interface WarmConnection {
  socket: TLSSocket;
  /** The credentials and trust it was made with. */
  context: SecureContext;
  readyAt: number;
  /** Detach the pool's listeners and expiry timer. */
  release(): void;
}

const WARM_DROPPED = 'the dialer dropped its warm connections';

export class BindingDialer implements Dialer {
  readonly host: string;
  readonly port: number;
  readonly servername: string | undefined;
  /** `host:port` as dialed. */
  readonly ingress: string;
  private readonly timeoutMs: number;
  private readonly sessionCacheSize: number;
  private readonly warmConnections: number;
  private readonly warmIdleMs: number;
  private trust: IngressTrust;
  private credentials: ClientCredentials;
  private context: SecureContext;
  /** Newest last. A session belongs to the context (credentials and trust) it was made with. */
  private sessions: CachedSession[] = [];
  /** Newest last. */
  private warm: WarmConnection[] = [];
  /** The background handshake in flight (one at a time), to abort when the pool is dropped. */
  private warming: AbortController | null = null;
  /** Set by a failed background handshake, cleared by the next dial: never hammer a broken ingress. */
  private refillBlocked = false;
  private lastDialAt = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(options: BindingDialerOptions) {
    const address = parseIngressAddress(options.ingress);
    this.host = address.host;
    this.port = address.port;
    this.ingress = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    this.servername = options.servername ?? (isIP(address.host) === 0 ? address.host : undefined);
    this.timeoutMs = options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.sessionCacheSize = options.sessionCacheSize ?? DEFAULT_SESSION_CACHE_SIZE;
    this.warmConnections = options.warmConnections ?? DEFAULT_WARM_CONNECTIONS;
    this.warmIdleMs = options.warmIdleMs ?? DEFAULT_WARM_IDLE_MS;
    this.trust = options.trust;
    this.credentials = options.credentials;
    this.context = createIngressContext(this.trust, this.credentials);
  }

  /** Switch to a renewed certificate; connections already open keep the old one. */
  setCredentials(credentials: ClientCredentials): void {
    this.context = createIngressContext(this.trust, credentials);
    this.credentials = credentials;
    this.sessions = [];
    this.dropWarm();
  }

  setTrust(trust: IngressTrust): void {
    this.context = createIngressContext(trust, this.credentials);
    this.trust = trust;
    this.sessions = [];
    this.dropWarm();
  }

  /**
   * Forget cached sessions, close warm connections and refuse new dials; open connections are
   * their owners' to close.
   */
  close(): void {
    this.closed = true;
    this.sessions = [];
    this.dropWarm();
  }

  get cachedSessions(): number {
    return this.sessions.length;
  }

  /** Warm connections ready for the next dial. */
  get warmSockets(): number {
    return this.warm.length;
  }

  async dial(host: string, port: number, options: DialOptions = {}): Promise<BindingConnection> {
    const started = performance.now();
    const { signal } = options;
    if (signal?.aborted) throw signal.reason;
    if (this.closed) throw this.unreachable('the dialer was closed');
    this.lastDialAt = started;
    this.refillBlocked = false;
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
    try {
      const pooled = this.takeWarm();
      if (pooled !== undefined) {
        try {
          return this.connected(await this.upgrade(pooled, request, dial.signal, true), started, true);
        } catch (err) {
          if (!(err instanceof StaleConnection)) throw err;
          // The rest of the pool is older still: drop it, the refill after this dial replaces it.
          this.dropWarm({ pending: false });
        }
      }
      handshaking = true;
      const socket = await this.handshake(this.context, dial.signal);
      handshaking = false;
      return this.connected(await this.upgrade(socket, request, dial.signal, false), started, false);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
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
    setImmediate(() => this.refill());
    return connection;
  }

  /**
   * TCP and TLS to the ingress. Resolves once the server certificate has been verified; nothing
   * has been written by then. Failures are classified here, except TLS 1.3's late rejection of the
   * client certificate, which only shows once a response is awaited.
   */
  private handshake(context: SecureContext, signal: AbortSignal, background = false): Promise<TLSSocket> {
    // TLS 1.3 tickets are meant to be used once: take the newest, the socket brings fresh ones.
    // A TLS 1.2 session may be resumed again and again (and brings no new one when resumed), also
    // by handshakes running at the same time: leave it in the cache.
    const newest = this.sessions.at(-1);
    if (newest !== undefined && !newest.reusable) this.sessions.pop();
    const session = newest?.ticket;
    return new Promise<TLSSocket>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      /** TLS 1.2 only: the key exchange (and with it our certificate) has been sent. */
      let certificateSent = false;
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
        socket.off('keylog', onKeylog);
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
      // With TLS 1.2 a server that does not accept our certificate may just hang up mid-handshake.
      // OpenSSL logs CLIENT_RANDOM when it sends the key exchange, in the flight that carries the
      // certificate, so a hang-up after it means the certificate was rejected.
      const onKeylog = (line: Buffer): void => {
        if (line.subarray(0, 14).toString('latin1') === 'CLIENT_RANDOM ') certificateSent = true;
      };
      const onError = (err: NodeJS.ErrnoException): void => {
        if (socket.authorizationError || VERIFY_ERRORS.has(err.code ?? '')) fail(this.untrusted(err));
        else if (certificateSent || CLIENT_CERT_ALERT.test(err.code ?? ''))
          fail(this.certificateRejected(describe(err)));
        else fail(this.unreachable(describe(err)));
      };
      const onEnd = (): void => {
        if (certificateSent)
          fail(this.certificateRejected('the connection was closed during the TLS 1.2 handshake'));
        else fail(this.unreachable('the connection was closed during the TLS handshake'));
      };
      const onSecureConnect = (): void => {
        // Node only gets here when the server certificate verified (rejectUnauthorized).
        done();
        resolve(socket);
      };
      const onAbort = (): void => fail(signal.reason);

      socket.on('keylog', onKeylog);
      socket.on('error', onError);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
      socket.once('secureConnect', onSecureConnect);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Send the ConnRequest and read the ConnResponse. On success the socket is paused with any bytes
   * after the response unshifted. A warm connection that dies before the first response byte
   * rejects with StaleConnection, so the dial can retry with a fresh handshake.
   */
  private upgrade(
    socket: TLSSocket,
    request: ConnRequest,
    signal: AbortSignal,
    warm: boolean,
  ): Promise<{ socket: TLSSocket; response: ConnResponse }> {
    return new Promise((resolve, reject) => {
      const frames = new FrameAccumulator();
      const done = (): void => {
        socket.off('data', onData);
        socket.off('error', onClosed);
        socket.off('end', onClosed);
        socket.off('close', onClosed);
        signal.removeEventListener('abort', onAbort);
      };
      const fail = (err: unknown): void => {
        done();
        socket.destroy();
        reject(err);
      };
      const onClosed = (err?: NodeJS.ErrnoException | boolean): void => {
        const error = err instanceof Error ? err : undefined;
        if (warm && frames.buffered === 0) fail(new StaleConnection(error?.message ?? 'closed'));
        // TLS 1.3 rejects a client certificate after the handshake: it shows up right here.
        else if (frames.buffered < 2)
          fail(this.certificateRejected(error === undefined ? 'the connection was closed' : describe(error)));
        else if (error === undefined) fail(this.truncated(frames.buffered));
        else fail(this.unreachable(`the connection failed while reading the response: ${describe(error)}`));
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
          fail(this.refused(request.host, request.port, response));
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
      socket.write(encodeConnRequest(request));
    });
  }

  /** The newest healthy warm connection, or none; unhealthy ones met on the way are closed. */
  private takeWarm(): TLSSocket | undefined {
    for (let entry = this.warm.pop(); entry !== undefined; entry = this.warm.pop()) {
      entry.release();
      const { socket } = entry;
      const healthy =
        entry.context === this.context &&
        performance.now() - entry.readyAt < this.warmIdleMs &&
        !socket.destroyed &&
        !socket.readableEnded &&
        socket.errored === null &&
        socket.writable;
      if (healthy) {
        socket.ref();
        return socket;
      }
      socket.destroy();
    }
    return undefined;
  }

  /**
   * Demand-driven: after a dial, handshake in the background (one at a time) until the pool is
   * full again, but only while dials are recent and no background handshake has failed since.
   */
  private refill(): void {
    if (
      this.closed ||
      this.refillBlocked ||
      this.warming !== null ||
      this.warm.length >= this.warmConnections ||
      performance.now() - this.lastDialAt >= this.warmIdleMs
    )
      return;
    const warming = new AbortController();
    this.warming = warming;
    const context = this.context;
    const timer = setTimeout(() => warming.abort(new Error('timed out')), this.timeoutMs).unref();
    this.handshake(context, warming.signal, true).then(
      (socket) => {
        clearTimeout(timer);
        if (this.warming !== warming || context !== this.context || this.closed) {
          socket.destroy();
          return;
        }
        this.warming = null;
        this.park(socket, context);
        this.refill();
      },
      () => {
        // Never an error by itself: the next dial reports whatever is wrong.
        clearTimeout(timer);
        if (this.warming !== warming) return;
        this.warming = null;
        this.refillBlocked = true;
      },
    );
  }

  private park(socket: TLSSocket, context: SecureContext): void {
    const remove = (): void => {
      entry.release();
      const i = this.warm.indexOf(entry);
      if (i >= 0) this.warm.splice(i, 1);
    };
    // The ingress hung up on an idle connection: just forget it.
    const onEnd = (): void => {
      remove();
      socket.destroy();
    };
    // E.g. TLS 1.3 rejecting our certificate after the handshake: as good as a failed handshake.
    const onError = (): void => {
      this.refillBlocked = true;
      remove();
    };
    const expiry = setTimeout(() => socket.destroy(), this.warmIdleMs).unref();
    const entry: WarmConnection = {
      socket,
      context,
      readyAt: performance.now(),
      release: () => {
        clearTimeout(expiry);
        socket.off('end', onEnd);
        socket.off('close', remove);
        socket.off('error', onError);
      },
    };
    socket.on('end', onEnd);
    socket.on('close', remove);
    socket.on('error', onError);
    this.warm.push(entry);
  }

  /** Close warm connections and, unless told otherwise, abort the background handshake. */
  private dropWarm({ pending = true }: { pending?: boolean } = {}): void {
    for (const entry of this.warm.splice(0)) {
      entry.release();
      entry.socket.destroy();
    }
    if (pending && this.warming !== null) {
      const warming = this.warming;
      this.warming = null;
      warming.abort(new Error(WARM_DROPPED));
    }
  }

  private storeSession(session: CachedSession): void {
    this.sessions.push(session);
    if (this.sessions.length > this.sessionCacheSize) this.sessions.shift();
  }

  private untrusted(err: NodeJS.ErrnoException): NgrokdError {
    const where = this.trust.sources.length > 0 ? ` and ${this.trust.sources.join(', ')}` : '';
    return new NgrokdError(
      'INGRESS_UNTRUSTED',
      `the binding ingress ${this.ingress} presented a certificate that is not trusted: ${describe(err)}`,
      `If ${this.ingress} is the right ingress, put ngrok's ingress CA certificate (PEM) into ${DEFAULT_TRUST_DIR}/ or set ingressCA in the config to its file (trusted now: system roots${where}).`,
      { cause: err },
    );
  }

  private certificateRejected(reason: string): NgrokdError {
    return new NgrokdError(
      'CLIENT_CERT_REJECTED',
      `the binding ingress ${this.ingress} did not accept the client certificate (${reason} before it answered)`,
      'The certificate may be expired, revoked or issued for another ingress: check ingressEndpoint matches the one the ngrok API returns, or sign out and in again to register a new certificate.',
    );
  }

  private unreachable(reason: string): NgrokdError {
    return new NgrokdError(
      'INGRESS_UNREACHABLE',
      `cannot reach the binding ingress ${this.ingress}: ${reason}`,
      `Check the network connection, that outbound TCP to port ${this.port} is allowed (firewall, proxy), and ingressEndpoint in the config.`,
    );
  }

  private truncated(buffered: number): NgrokdError {
    return new NgrokdError(
      'PROTOCOL_ERROR',
      `the binding ingress ${this.ingress} closed the connection in the middle of its response (${buffered} bytes received)`,
      'Check ingressEndpoint points at a binding ingress; if it does, retry later.',
    );
  }

  private refused(host: string, port: number, response: ConnResponse): NgrokdError {
    const code = response.errorCode || 'no error code';
    return new NgrokdError(
      'UPGRADE_REFUSED',
      `the binding ingress refused ${host}:${port}: ${code}${response.errorMessage ? `: ${response.errorMessage}` : ''}`,
      `Check the endpoint still exists, is bound to Kubernetes and that its traffic policy allows this connection (ngrok error ${code}).`,
      response.errorCode ? { ngrokCode: response.errorCode } : undefined,
    );
  }
}
