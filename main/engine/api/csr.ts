/**
 * The client key and certificate request for the binding ingress's mTLS. We follow the ngrok
 * operator's choice (shared/ngrok-protocol.md §1 "CSR"): ECDSA P-256, ECDSA-with-SHA512, an empty
 * subject and no extensions; ngrok fills in what the certificate needs. Node has no CSR API, so
 * @peculiar/x509 builds it; reading certificates back uses node:crypto.
 */
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-512' } as const;

export interface KeyAndCsr {
  /** PKCS#8 PEM ("PRIVATE KEY"), usable as node:tls `key`. Secret: never log it. */
  keyPem: string;
  /** PEM "CERTIFICATE REQUEST" for `binding.csr`. */
  csrPem: string;
}

/** A fresh key pair and a CSR for it. Every renewal uses a new one: ngrok ignores a repeated CSR. */
export async function createKeyAndCsr(): Promise<KeyAndCsr> {
  // Loaded on first use (~20 MB): a daemon restarting with stored credentials never needs it.
  // reflect-metadata first: @peculiar/x509's dependency injection (tsyringe) needs the Reflect API.
  await import('reflect-metadata');
  const { Pkcs10CertificateRequestGenerator, PemConverter } = await import('@peculiar/x509');
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const csr = await Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: SIGNING_ALGORITHM });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

export interface CertificateInfo {
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint, colon-separated hex: tells one issued certificate from another. */
  fingerprint256: string;
}

/**
 * Validity and identity of the first certificate in a PEM (ngrok may append its chain). Throws a
 * plain Error when the text holds no parseable certificate; callers say where it came from.
 */
export function parseCertificate(certPem: string): CertificateInfo {
  const cert = new X509Certificate(certPem);
  return { notBefore: cert.validFromDate, notAfter: cert.validToDate, fingerprint256: cert.fingerprint256 };
}

/** Whether `certPem` was issued for `keyPem`. False, never a throw, when either does not parse. */
export function certificateMatchesKey(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
