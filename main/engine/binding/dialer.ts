/**
 * Dials the binding ingress (shared/ngrok-protocol.md §3): TCP, TLS >= 1.2 with the client
 * certificate and SNI, one ConnRequest frame out, one ConnResponse frame in, then the socket is a
 * raw byte stream. Every local connection costs one dial, so TLS sessions are cached and resumed.
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
  type ConnResponse,
  type PodIdentity,
} from './frames.ts';
import {
  DEFAULT_TRUST_DIR,
  createIngressContext,
  type ClientCredentials,
  type IngressTrust,
} from './trust.ts';

export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
export const DEFAULT_SESSION_CACHE_SIZE = 128;
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
  /** Whether the TLS session was resumed. */
  resumed: boolean;
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

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e === null || typeof e !== 'object') return String(err);
  return e.code !== undefined && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
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
  private sessions: Buffer[] = [];
  private closed = false;

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
  }

  /** Switch to a renewed certificate; connections already open keep the old one. */
  setCredentials(credentials: ClientCredentials): void {
    this.context = createIngressContext(this.trust, credentials);
    this.credentials = credentials;
    this.sessions = [];
  }

  setTrust(trust: IngressTrust): void {
    this.context = createIngressContext(trust, this.credentials);
    this.trust = trust;
    this.sessions = [];
  }

  /** Forget cached sessions and refuse new dials; open connections are their owners' to close. */
  close(): void {
    this.closed = true;
    this.sessions = [];
  }

  get cachedSessions(): number {
    return this.sessions.length;
  }

  dial(host: string, port: number, options: DialOptions = {}): Promise<BindingConnection> {
    const started = performance.now();
    const context = this.context;
    // TLS 1.3 tickets are meant to be used once: take the newest, the socket brings fresh ones.
    const session = this.sessions.pop();
    const { signal } = options;

    return new Promise<BindingConnection>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.closed) {
        reject(this.unreachable('the dialer was closed'));
        return;
      }
      let handshakeDone = false;
      /** TLS 1.2 only: the key exchange (and with it our certificate) has been sent. */
      let certificateSent = false;
      let settled = false;
      const frames = new FrameAccumulator();
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
      // With TLS 1.2 a server that does not accept our certificate may just hang up mid-handshake.
      // OpenSSL logs CLIENT_RANDOM when it sends the key exchange, in the flight that carries the
      // certificate, so a hang-up after it means the certificate was rejected.
      const onKeylog = (line: Buffer): void => {
        if (line.subarray(0, 14).toString('latin1') === 'CLIENT_RANDOM ') certificateSent = true;
      };
      socket.on('keylog', onKeylog);
      socket.on('session', (ticket: Buffer) => {
        if (context === this.context && !this.closed) this.storeSession(ticket);
      });

      const finish = (): void => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('data', onData);
        socket.off('end', onEnd);
      };
      const fail = (err: unknown): void => {
        if (settled) return;
        finish();
        socket.destroy();
        reject(err);
      };
      const onAbort = (): void => fail(signal?.reason);
      const onEnd = (): void => {
        if (certificateSent && !handshakeDone)
          fail(this.certificateRejected('the connection was closed during the TLS 1.2 handshake'));
        else if (!handshakeDone) fail(this.unreachable('the connection was closed during the TLS handshake'));
        else if (frames.buffered < 2) fail(this.certificateRejected('the connection was closed'));
        else fail(this.truncated(frames.buffered));
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
          fail(this.refused(host, port, response));
          return;
        }
        socket.pause();
        finish();
        if (result.rest.length > 0) socket.unshift(result.rest);
        const resumed = socket.isSessionReused();
        // A TLS 1.2 session may be resumed again and again; it brings no new one when resumed.
        if (
          resumed &&
          session !== undefined &&
          socket.getProtocol() === 'TLSv1.2' &&
          context === this.context
        )
          this.storeSession(session);
        resolve({ socket, response, upgradeMs: performance.now() - started, resumed });
      };

      const timer = setTimeout(() => {
        const what = handshakeDone
          ? 'answer the connection request'
          : 'complete the connection and TLS handshake';
        fail(this.unreachable(`it did not ${what} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });

      // Stays attached after the dial: late errors then belong to whoever uses the socket.
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        if (!handshakeDone) {
          if (socket.authorizationError || VERIFY_ERRORS.has(err.code ?? '')) fail(this.untrusted(err));
          else if (certificateSent || CLIENT_CERT_ALERT.test(err.code ?? ''))
            fail(this.certificateRejected(describe(err)));
          else fail(this.unreachable(describe(err)));
        } else if (frames.buffered < 2) {
          // TLS 1.3 rejects a client certificate after the handshake: it shows up right here.
          fail(this.certificateRejected(describe(err)));
        } else {
          fail(this.unreachable(`the connection failed while reading the response: ${describe(err)}`));
        }
      });
      socket.once('secureConnect', () => {
        // Node only gets here when the server certificate verified (rejectUnauthorized).
        handshakeDone = true;
        socket.off('keylog', onKeylog);
        socket.write(encodeConnRequest({ host, port, podIdentity: options.podIdentity }));
      });
      socket.on('end', onEnd);
      socket.on('data', onData);
    });
  }

  private storeSession(session: Buffer): void {
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
