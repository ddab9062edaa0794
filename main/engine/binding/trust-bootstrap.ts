/**
 * Trust on first use, for when NOTHING is configured (no ingressCA, empty trust dir, nothing pinned):
 * ngrok's ingress CA is not in any system store, and the alternative upstream chose (skip
 * verification) is not acceptable. We know the CA's published SHA-256 fingerprint
 * (shared/ngrok-protocol.md §4), so one probe connection fetches the chain the ingress presents and
 * verifies it by hand: the leaf chains, signature by signature, to a CA certificate with exactly
 * that fingerprint, every certificate on the way is within its validity dates, issuers are CAs, and
 * the leaf carries the ingress name (tls.checkServerIdentity). Only then is the CA written to disk;
 * every real connection afterwards is verified normally against it.
 *
 * Why the probe may run with verification off: it has to, because the point is to obtain a chain
 * Node cannot verify yet. It is safe because the probe writes nothing at all: no ConnRequest, no
 * user data. It completes the handshake, reads the certificates and is destroyed.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkServerIdentity, connect, type DetailedPeerCertificate } from 'node:tls';
import { NgrokdError } from '../../common/errors.ts';
import { parseIngressAddress } from './ingress-address.ts';
import { DEFAULT_TRUST_DIR } from '../../common/defaults.ts';
import type { ClientCredentials } from './trust.ts';

/** ngrok's ingress CA: CN=Intermediate CA, OU=prod, O=ngrok Inc (valid 2022-08-31 to 2032-08-28). */
export const NGROK_INGRESS_CA_SHA256 =
  'CF:CE:8A:27:B7:4E:0C:51:C6:54:73:9A:35:3E:51:C1:35:26:0B:5B:97:7D:29:DF:67:03:8B:E7:EF:6F:F8:47';

/** File name of the pinned CA inside the state directory. */
export const PINNED_CA_FILE = 'ingress-ca.pem';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const MAX_CHAIN = 8;

export interface TrustBootstrapOptions {
  ingress: string;
  /** Default: the ingress host. */
  servername?: string;
  /** Where the verified CA is written (PEM), normally `<state dir>/ingress-ca.pem`. */
  pinPath: string;
  /** SHA-256 fingerprint of the CA to pin; default ngrok's. */
  fingerprint?: string;
  /** Presented so an ingress that insists on a client certificate completes the handshake. */
  credentials?: ClientCredentials;
  timeoutMs?: number;
}

function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

function bootstrapError(ingress: string, why: string): NgrokdError {
  return new NgrokdError(
    'INGRESS_UNTRUSTED',
    `cannot establish trust in the binding ingress ${ingress}: ${why}`,
    `Put ngrok's ingress CA certificate (PEM) into ${DEFAULT_TRUST_DIR}/ or set ingressCA in the config to its file.`,
  );
}

/** Connect, complete the handshake, take the presented chain and hang up without writing anything. */
function fetchPresentedChain(
  options: TrustBootstrapOptions,
  ingress: string,
): Promise<DetailedPeerCertificate> {
  const { host, port } = parseIngressAddress(options.ingress);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: options.servername ?? host,
      // See the file comment: nothing is ever written on this connection.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ...(options.credentials === undefined
        ? {}
        : { cert: options.credentials.certPem, key: options.credentials.keyPem }),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(unreachable(ingress, `no TLS handshake within ${options.timeoutMs ?? 10_000} ms`));
    }, options.timeoutMs ?? 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const chain = socket.getPeerCertificate(true);
      socket.destroy();
      resolve(chain);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(unreachable(ingress, err.message));
    });
  });
}

function unreachable(ingress: string, why: string): NgrokdError {
  return new NgrokdError(
    'INGRESS_UNREACHABLE',
    `cannot reach the binding ingress ${ingress} to establish trust: ${why}`,
    'Check the network connection and ingressEndpoint in the config.',
  );
}

function checkDates(cert: X509Certificate, now: number): string | null {
  if (Date.parse(cert.validFrom) > now)
    return `${cert.subject.replace(/\n/g, ', ')} is not valid before ${cert.validFrom}`;
  if (Date.parse(cert.validTo) < now)
    return `${cert.subject.replace(/\n/g, ', ')} expired on ${cert.validTo}`;
  return null;
}

/**
 * Verify a presented chain against a pinned CA fingerprint. Returns the pinned CA or the reason the
 * chain is not acceptable. Exported for tests.
 */
export function verifyPinnedChain(
  presented: DetailedPeerCertificate,
  servername: string,
  fingerprint: string,
  now = Date.now(),
): X509Certificate | string {
  const pin = normalizeFingerprint(fingerprint);
  if (presented.raw === undefined || presented.raw.length === 0) return 'it presented no certificate';
  const identityError = checkServerIdentity(servername, presented);
  if (identityError !== undefined) return identityError.message;

  let detail = presented;
  let cert = new X509Certificate(detail.raw);
  const usages = cert.keyUsage;
  if (usages !== undefined && !usages.includes(SERVER_AUTH)) return 'its certificate is not for TLS servers';
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const dateProblem = checkDates(cert, now);
    if (dateProblem !== null) return dateProblem;
    if (depth > 0 && normalizeFingerprint(cert.fingerprint256) === pin) return cert;
    const issuerDetail = detail.issuerCertificate as DetailedPeerCertificate | undefined;
    if (issuerDetail === undefined || issuerDetail === detail || issuerDetail.raw === undefined)
      return `its certificate chain does not contain the CA with fingerprint ${fingerprint}`;
    const issuer = new X509Certificate(issuerDetail.raw);
    if (issuer.fingerprint256 === cert.fingerprint256)
      return `its certificate chain does not contain the CA with fingerprint ${fingerprint}`;
    if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey))
      return `${cert.subject.replace(/\n/g, ', ')} is not validly signed by ${issuer.subject.replace(/\n/g, ', ')}`;
    detail = issuerDetail;
    cert = issuer;
  }
  return 'its certificate chain is too long';
}

/** Probe the ingress, verify its chain against the pinned fingerprint and store the CA. Returns the CA. */
export async function bootstrapIngressTrust(options: TrustBootstrapOptions): Promise<X509Certificate> {
  const { host, port } = parseIngressAddress(options.ingress);
  const ingress = `${host}:${port}`;
  const presented = await fetchPresentedChain(options, ingress);
  const verdict = verifyPinnedChain(
    presented,
    options.servername ?? host,
    options.fingerprint ?? NGROK_INGRESS_CA_SHA256,
  );
  if (typeof verdict === 'string') throw bootstrapError(ingress, verdict);
  try {
    mkdirSync(dirname(options.pinPath), { recursive: true, mode: 0o700 });
    const temporary = `${options.pinPath}.${process.pid}.tmp`;
    writeFileSync(temporary, verdict.toString(), { mode: 0o644 });
    renameSync(temporary, options.pinPath);
  } catch (err) {
    throw new NgrokdError(
      'STATE_DIR',
      `cannot write the pinned ingress CA to ${options.pinPath}: ${(err as Error).message}`,
      `Make sure ${dirname(options.pinPath)} is writable by the daemon.`,
      { cause: err },
    );
  }
  return verdict;
}
