/**
 * The ingress trust store (shared/ngrok-protocol.md §4): system roots, plus the `ingressCA` PEM file
 * from the config, plus every PEM under the trust dir (default /etc/ssl/certs/ngrok/, where the
 * operator ships ngrok's CA), plus a CA pinned by the trust bootstrap. ngrok's CA is an
 * intermediate, so the context treats any certificate in the store as an anchor
 * (`allowPartialTrustChain`). Verification is never turned off.
 */
import { X509Certificate } from 'node:crypto';
import { DEFAULT_TRUST_DIR } from '../../common/defaults.ts';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_CIPHERS,
  createSecureContext,
  getCACertificates,
  rootCertificates,
  type SecureContext,
} from 'node:tls';
import { errorCode, NgrokdError } from '../../common/errors.ts';

export interface TrustOptions {
  /** `ingressCA` from the config: a PEM file that must exist. */
  ingressCA?: string | undefined;
  /** Directory of extra CA PEMs; a missing directory is fine. Default DEFAULT_TRUST_DIR. */
  trustDir?: string;
  /** A CA pinned by bootstrapIngressTrust; loaded when the file exists. */
  pinnedCA?: string | undefined;
  /** Include the system roots (default true; tests turn it off). */
  systemRoots?: boolean;
}

export interface IngressTrust {
  /** Every trusted certificate, PEM. */
  readonly ca: readonly string[];
  /** Files the non-system certificates came from, for messages. */
  readonly sources: readonly string[];
  /** Number of non-system certificates. 0 means nothing ngrok-specific is configured. */
  readonly extraCount: number;
}

export interface ClientCredentials {
  keyPem: string;
  certPem: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function pemError(file: string, why: string, cause?: unknown): NgrokdError {
  return new NgrokdError(
    'CONFIG_INVALID',
    `ingress CA file ${file} ${why}`,
    `Replace ${file} with PEM certificates (-----BEGIN CERTIFICATE-----), or remove it.`,
    { cause },
  );
}

/** Read and validate the certificates of one PEM file. */
export function readPemCertificates(file: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw pemError(file, `cannot be read (${errorCode(err) ?? String(err)})`, err);
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw pemError(file, 'contains no PEM certificate');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw pemError(file, `has an invalid certificate (#${i + 1}): ${(err as Error).message}`, err);
    }
  });
}

/** Regular, non-hidden files of `dir` (following symlinks), sorted; none when it does not exist. */
function trustDirFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw pemError(dir, `(directory) cannot be read (${errorCode(err) ?? String(err)})`, err);
  }
  // Hidden entries are skipped: Kubernetes ConfigMap mounts keep their real files under ..data.
  return names
    .filter((name) => !name.startsWith('.'))
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => {
      try {
        return statSync(path).isFile();
      } catch {
        return false;
      }
    });
}

function systemRootCertificates(): string[] {
  let system: string[] = [];
  try {
    system = getCACertificates('system');
  } catch {
    // Older runtimes or platforms without a readable system store: the bundled roots below remain.
  }
  return [...new Set([...system, ...rootCertificates])];
}

export function loadIngressTrust(options: TrustOptions = {}): IngressTrust {
  const files: string[] = [];
  if (options.ingressCA !== undefined) files.push(options.ingressCA);
  files.push(...trustDirFiles(options.trustDir ?? DEFAULT_TRUST_DIR));
  if (options.pinnedCA !== undefined) {
    try {
      if (statSync(options.pinnedCA).isFile()) files.push(options.pinnedCA);
    } catch {
      // Not pinned yet.
    }
  }

  const extra = new Map<string, string>();
  const sources: string[] = [];
  for (const file of files) {
    sources.push(file);
    for (const cert of readPemCertificates(file)) extra.set(cert.fingerprint256, cert.toString());
  }
  const system = options.systemRoots === false ? [] : systemRootCertificates();
  return { ca: [...system, ...extra.values()], sources, extraCount: extra.size };
}

/**
 * Node's default cipher list with TLS_AES_128_GCM_SHA256 offered first. A TLS 1.3 server that
 * follows the client's order (OpenSSL's default) would otherwise pick AES-256-GCM, which costs
 * ~40 % more CPU per byte on AES-NI hardware for no practical gain here; Go servers pick AES-128
 * themselves on such hardware. Everything else (TLS 1.2 suites, their order) stays Node's.
 */
export const INGRESS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  ...DEFAULT_CIPHERS.split(':').filter((c) => c !== 'TLS_AES_128_GCM_SHA256'),
].join(':');

/**
 * The TLS context for dialing the ingress: the trust store plus the client certificate. Build it
 * once per credentials (parsing hundreds of roots is not free) and share it across dials.
 */
export function createIngressContext(trust: IngressTrust, credentials: ClientCredentials): SecureContext {
  try {
    return createSecureContext({
      ca: [...trust.ca],
      allowPartialTrustChain: true,
      cert: credentials.certPem,
      key: credentials.keyPem,
      minVersion: 'TLSv1.2',
      ciphers: INGRESS_CIPHERS,
    });
  } catch (err) {
    throw new NgrokdError(
      'CLIENT_CERT_REJECTED',
      `the client certificate or key cannot be loaded: ${(err as Error).message}`,
      'Sign out and in again (or delete the key and certificate in the state directory) to register a new certificate.',
      { cause: err },
    );
  }
}
