/**
 * Fixtures for the ngrok API tests: a scripted HTTP server on 127.0.0.1 that records every request,
 * and a throwaway CA that signs client CSRs with chosen validity dates (the real issuer is ngrok).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface StubResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Answer a request, or 'hang' to never answer (timeouts). */
export type StubHandler = (
  request: RecordedRequest,
  index: number,
) => StubResponse | 'hang' | Promise<StubResponse | 'hang'>;

export interface ApiStub {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startApiStub(handler: StubHandler): Promise<ApiStub> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      void Promise.resolve(handler(request, requests.length - 1)).then((answer) => {
        if (answer === 'hang') return;
        const text =
          answer.body === undefined
            ? ''
            : typeof answer.body === 'string'
              ? answer.body
              : JSON.stringify(answer.body);
        res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
        res.end(text);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An ngrok-style error body. */
export function ngrokError(status: number, code: number, msg: string): StubResponse {
  return {
    status,
    body: { error_code: `ERR_NGROK_${code}`, status_code: status, msg, details: { operation_id: 'op_test' } },
  };
}

const DAY_MS = 86_400_000;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Signs CSRs the way ngrok's client CA would, with validity chosen by the test. */
export class TestCa {
  readonly #keys: webcrypto.CryptoKeyPair;
  readonly #cert: x509.X509Certificate;
  #serial = 1;

  private constructor(keys: webcrypto.CryptoKeyPair, cert: x509.X509Certificate) {
    this.#keys = keys;
    this.#cert = cert;
  }

  static async create(): Promise<TestCa> {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ]);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=Test Client CA',
      keys,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + 3650 * DAY_MS),
      signingAlgorithm: SIGNING,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    return new TestCa(keys, cert);
  }

  /** A client certificate for the CSR's key, valid from yesterday for `days` days from now. */
  async issue(csrPem: string, days = 365): Promise<{ certPem: string; notBefore: Date; notAfter: Date }> {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    // Whole seconds: certificates carry no milliseconds.
    const notBefore = new Date(Math.floor((Date.now() - DAY_MS) / 1000) * 1000);
    const notAfter = new Date(Math.floor((Date.now() + days * DAY_MS) / 1000) * 1000);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: (this.#serial++).toString(16).padStart(2, '0'),
      subject: 'CN=k8sop_test',
      issuer: this.#cert.subject,
      publicKey: await csr.publicKey.export(),
      signingKey: this.#keys.privateKey,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
    });
    return { certPem: cert.toString('pem'), notBefore, notAfter };
  }
}
