/**
 * How a dial to the binding ingress fails, as NgrokdErrors a user can act on. A failed TLS handshake
 * is one of four things with four different fixes: the ingress's certificate is not trusted (fix
 * the trust), ours is not accepted (register again), the ingress cannot be reached (fix the
 * network), or it dropped the connection (a reset or a close without an answer: retry, check the
 * path). Node reports them all as socket errors, so they are told apart here by error code. Only a
 * TLS alert about the certificate means ours was rejected: a reset or a bare close can be a proxy,
 * a restarting ingress or a dead NAT mapping just as well, and "sign out and in again" would be the
 * wrong advice for those. After the handshake the ingress may refuse the ConnRequest or hang up
 * mid-response.
 */
import { DEFAULT_TRUST_DIR } from '../../common/defaults.ts';
import { NgrokdError } from '../../common/errors.ts';
import type { ConnResponse } from './frames.ts';

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

/** Socket errors by which the peer (or something on the path) tore the connection down. */
const RESET_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export type HandshakeFailure = 'untrusted' | 'certificate-rejected' | 'reset' | 'unreachable';

/**
 * What a socket error during (or right after) the TLS handshake means. `authorizationError` is the
 * socket's own verdict on the server certificate.
 */
export function classifyHandshakeError(
  err: NodeJS.ErrnoException,
  authorizationError: unknown,
): HandshakeFailure {
  if (authorizationError || VERIFY_ERRORS.has(err.code ?? '')) return 'untrusted';
  if (isCertificateAlert(err)) return 'certificate-rejected';
  if (RESET_ERRORS.has(err.code ?? '')) return 'reset';
  return 'unreachable';
}

/** Whether `err` is a TLS alert by which the server says it does not accept our certificate. */
export function isCertificateAlert(err: NodeJS.ErrnoException): boolean {
  return CLIENT_CERT_ALERT.test(err.code ?? '');
}

/** An error's message, with its code when the message does not already carry it. */
export function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e === null || typeof e !== 'object') return String(err);
  return e.code !== undefined && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
}

/** `trustSources`: what is trusted besides the system roots, to name in the fix. */
export function ingressUntrusted(
  ingress: string,
  trustSources: readonly string[],
  err: NodeJS.ErrnoException,
): NgrokdError {
  const where = trustSources.length > 0 ? ` and ${trustSources.join(', ')}` : '';
  return new NgrokdError(
    'INGRESS_UNTRUSTED',
    `the binding ingress ${ingress} presented a certificate that is not trusted: ${describeError(err)}`,
    `If ${ingress} is the right ingress, put ngrok's ingress CA certificate (PEM) into ${DEFAULT_TRUST_DIR}/ or set ingressCA in the config to its file (trusted now: system roots${where}).`,
    { cause: err },
  );
}

export function clientCertificateRejected(ingress: string, reason: string): NgrokdError {
  return new NgrokdError(
    'CLIENT_CERT_REJECTED',
    `the binding ingress ${ingress} did not accept the client certificate (${reason})`,
    'The certificate may be expired, revoked or issued for another ingress: check ingressEndpoint matches the one the ngrok API returns, or sign out and in again to register a new certificate.',
  );
}

export function ingressUnreachable(ingress: string, port: number, reason: string): NgrokdError {
  return new NgrokdError(
    'INGRESS_UNREACHABLE',
    `cannot reach the binding ingress ${ingress}: ${reason}`,
    `Check the network connection, that outbound TCP to port ${port} is allowed (firewall, proxy), and ingressEndpoint in the config.`,
  );
}

/**
 * The ingress (or something between) reset the connection, or closed it without a word, before it
 * answered. `stage` says how far the dial got, e.g. "during the TLS handshake".
 */
export function ingressReset(ingress: string, stage: string, reason: string): NgrokdError {
  return new NgrokdError(
    'INGRESS_RESET',
    `the binding ingress ${ingress} dropped the connection ${stage} (${reason})`,
    'ngrokd dials again for the next connection, so a one-off drop needs nothing. If every connection fails this way, check that no proxy or firewall cuts TLS to the ingress and that ingressEndpoint is the one the API returns; if it persists after that, sign out and in again to register a new certificate.',
  );
}

export function responseTruncated(ingress: string, buffered: number): NgrokdError {
  return new NgrokdError(
    'PROTOCOL_ERROR',
    `the binding ingress ${ingress} closed the connection in the middle of its response (${buffered} bytes received)`,
    'Check ingressEndpoint points at a binding ingress; if it does, retry later.',
  );
}

export function upgradeRefused(host: string, port: number, response: ConnResponse): NgrokdError {
  const code = response.errorCode || 'no error code';
  return new NgrokdError(
    'UPGRADE_REFUSED',
    `the binding ingress refused ${host}:${port}: ${code}${response.errorMessage ? `: ${response.errorMessage}` : ''}`,
    `Check the endpoint still exists, is bound to Kubernetes and that its traffic policy allows this connection (ngrok error ${code}).`,
    response.errorCode ? { ngrokCode: response.errorCode } : undefined,
  );
}
