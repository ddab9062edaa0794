/**
 * A tiny certificate authority for the simulator (ECDSA P-256 via webcrypto): the ingress's server
 * chain, the client CA that signs operator CSRs, and a foreign CA for "untrusted" scenarios.
 */
import 'reflect-metadata';
import { X509Certificate as NodeX509 } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

export interface CertificateAuthority {
  name: string;
  certPem: string;
  /** SHA-256 fingerprint, `AA:BB:…`. */
  fingerprint256: string;
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
  /** The CA that signed this one; undefined for a self-signed root. */
  issuer: CertificateAuthority | undefined;
}

export interface IssuedCert {
  certPem: string;
  keyPem: string;
  /** Leaf followed by the issuing CA when that is an intermediate (what a TLS server presents). */
  chainPem: string;
  fingerprint256: string;
}

/** Raised for a CSR that does not parse or whose self-signature does not verify. */
export class InvalidCsrError extends Error {
  override name = 'InvalidCsrError';
}

export function fingerprint256(certPem: string): string {
  return new NodeX509(certPem).fingerprint256;
}

async function generateKeys(extractable: boolean): Promise<webcrypto.CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC_KEY, extractable, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** Backdated a little so freshly issued certs are valid despite clock skew between processes. */
function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 3_600_000), notAfter: new Date(now + days * DAY_MS) };
}

async function caExtensions(
  keys: webcrypto.CryptoKeyPair,
  issuer?: CertificateAuthority,
): Promise<x509.Extension[]> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (issuer !== undefined)
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey));
  return extensions;
}

function toAuthority(
  name: string,
  cert: x509.X509Certificate,
  keys: webcrypto.CryptoKeyPair,
  issuer?: CertificateAuthority,
): CertificateAuthority {
  const certPem = cert.toString('pem');
  return { name, certPem, fingerprint256: fingerprint256(certPem), cert, keys, issuer };
}

/** A self-signed root. `name` is a CN or a full DN such as `CN=Root, O=ngrok Sim`. */
export async function createCa(name: string): Promise<CertificateAuthority> {
  const dn = name.includes('=') ? name : `CN=${name}`;
  const keys = await generateKeys(false);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: dn,
    keys,
    ...validity(3650),
    signingAlgorithm: SIGNING,
    extensions: await caExtensions(keys),
  });
  return toAuthority(dn, cert, keys);
}

/** An intermediate CA (CA:true) signed by `issuer`, like ngrok's `CN=Intermediate CA, OU=prod, O=ngrok Inc`. */
export async function createIntermediate(
  issuer: CertificateAuthority,
  name: string,
): Promise<CertificateAuthority> {
  const dn = name.includes('=') ? name : `CN=${name}`;
  const keys = await generateKeys(false);
  const cert = await x509.X509CertificateGenerator.create({
    subject: dn,
    issuer: issuer.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    ...validity(3650),
    signingAlgorithm: SIGNING,
    extensions: await caExtensions(keys, issuer),
  });
  return toAuthority(dn, cert, keys, issuer);
}

/** A TLS server leaf for the given names; `chainPem` includes the issuer when it is an intermediate. */
export async function issueServerCert(
  ca: CertificateAuthority,
  names: { dnsNames: string[]; ips?: string[] },
): Promise<IssuedCert> {
  const keys = await generateKeys(true);
  const sans: x509.JsonGeneralName[] = [
    ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(names.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${names.dnsNames[0] ?? names.ips?.[0] ?? 'server'}`,
    issuer: ca.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    ...validity(365),
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sans),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  const chainPem = ca.issuer === undefined ? certPem : `${certPem}\n${ca.certPem}`;
  return {
    certPem,
    keyPem: await privateKeyPem(keys.privateKey),
    chainPem,
    fingerprint256: fingerprint256(certPem),
  };
}

/** Parse a PEM CSR and check its self-signature. Throws InvalidCsrError. */
export async function parseCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(csrPem))
      throw new Error('no CERTIFICATE REQUEST block');
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new InvalidCsrError(`csr is not a PEM certificate request: ${(err as Error).message}`);
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new InvalidCsrError(`csr signature cannot be checked: ${(err as Error).message}`);
  }
  if (!valid) throw new InvalidCsrError('csr signature does not verify');
  return csr;
}

/** Issue a TLS client certificate for the CSR's public key (what the API does for an operator). */
export async function signCsr(
  ca: CertificateAuthority,
  csrPem: string,
  options: { notBefore: Date; notAfter: Date; subject?: string },
): Promise<{ certPem: string; fingerprint256: string }> {
  const csr = await parseCsr(csrPem);
  const cert = await x509.X509CertificateGenerator.create({
    subject: options.subject ?? csr.subjectName,
    issuer: ca.cert.subjectName,
    publicKey: csr.publicKey,
    signingKey: ca.keys.privateKey,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  return { certPem, fingerprint256: fingerprint256(certPem) };
}

/**
 * A key and CSR the way the ngrok operator makes them (P-256, ECDSA-with-SHA512, empty subject, no
 * extensions), for tests that play the client.
 */
export async function createClientCsr(): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateKeys(true);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-512' } as webcrypto.EcdsaParams,
  });
  return { csrPem: csr.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}
