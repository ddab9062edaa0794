/**
 * Test PKI and a minimal binding ingress: a node:tls server that requires a client certificate,
 * reads one ConnRequest frame, answers with a ConnResponse and then joins the connection to a
 * local backend. Just enough of ngrok's side to exercise the dialer and the forwarder for real.
 */
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs the Reflect metadata API.
import { spawn } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type SecureVersion, type TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';
import {
  FrameAccumulator,
  decodeConnRequestMessage,
  encodeConnResponse,
  type ConnRequest,
} from '../../main/engine/binding/frames.ts';
import { BindingDialer, type BindingDialerOptions } from '../../main/engine/binding/dialer.ts';
import { loadIngressTrust, type IngressTrust } from '../../main/engine/binding/trust.ts';

x509.cryptoProvider.set(globalThis.crypto);

export const INGRESS_NAME = 'ingress.test';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface Identity {
  certPem: string;
  keyPem: string;
}

interface Authority extends Identity {
  name: string;
  keys: webcrypto.CryptoKeyPair;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function days(n: number): Date {
  return new Date(Date.now() + n * 86_400_000);
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function caExtensions(keys: webcrypto.CryptoKeyPair): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
}

export async function rootAuthority(cn: string): Promise<Authority> {
  const keys = await newKeys();
  const name = `CN=${cn}, O=ngrokd tests`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    notBefore: days(-1),
    notAfter: days(365),
    signingAlgorithm: SIGNING,
    extensions: await caExtensions(keys),
  });
  return { name, keys, certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export async function intermediateAuthority(cn: string, issuer: Authority): Promise<Authority> {
  const keys = await newKeys();
  const name = `CN=${cn}, OU=prod, O=ngrokd tests`;
  const cert = await x509.X509CertificateGenerator.create({
    subject: name,
    issuer: issuer.name,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore: days(-1),
    notAfter: days(365),
    signingAlgorithm: SIGNING,
    extensions: await caExtensions(keys),
  });
  return { name, keys, certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export async function leafCertificate(
  issuer: Authority,
  options: { cn: string; dns?: string[]; usage: 'server' | 'client'; notAfter?: Date; notBefore?: Date },
): Promise<Identity> {
  const keys = await newKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      options.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
  ];
  if (options.dns !== undefined)
    extensions.push(
      new x509.SubjectAlternativeNameExtension(options.dns.map((value) => ({ type: 'dns', value }))),
    );
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${options.cn}`,
    issuer: issuer.name,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore: options.notBefore ?? days(-1),
    notAfter: options.notAfter ?? days(30),
    signingAlgorithm: SIGNING,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export interface Pki {
  /** Self-signed root above the ingress CA; deliberately NOT given to the dialer. */
  root: Authority;
  /** The "ngrok ingress CA": an intermediate, like ngrok's real one. */
  ingressCA: Authority;
  /** Ingress server certificate (leaf + intermediate, as a server sends it). */
  server: Identity;
  /** A certificate for the ingress name from an unrelated CA. */
  untrustedServer: Identity;
  /** The CA the ingress accepts client certificates from, and a client certificate of it. */
  clientCA: Authority;
  client: Identity;
  /** A client certificate the ingress does not know. */
  foreignClient: Identity;
}

export async function createPki(): Promise<Pki> {
  const root = await rootAuthority('Test Root');
  const ingressCA = await intermediateAuthority('Intermediate CA', root);
  const leaf = await leafCertificate(ingressCA, { cn: INGRESS_NAME, dns: [INGRESS_NAME], usage: 'server' });
  const server = { certPem: `${leaf.certPem}\n${ingressCA.certPem}\n`, keyPem: leaf.keyPem };
  const rogue = await rootAuthority('Rogue CA');
  const untrustedServer = await leafCertificate(rogue, {
    cn: INGRESS_NAME,
    dns: [INGRESS_NAME],
    usage: 'server',
  });
  const clientCA = await rootAuthority('Operator CA');
  const client = await leafCertificate(clientCA, { cn: 'k8sop_test', usage: 'client' });
  const foreignClient = await leafCertificate(rogue, { cn: 'k8sop_foreign', usage: 'client' });
  return { root, ingressCA, server, untrustedServer, clientCA, client, foreignClient };
}

/** How the fake ingress answers one ConnRequest. */
export type IngressAnswer =
  /** Success: join the connection to 127.0.0.1:backendPort; `early` is sent right after the response. */
  | { backendPort: number; early?: Buffer }
  | { errorCode: string; errorMessage: string }
  /** Anything else: these bytes, then close. */
  | { raw: Buffer }
  /** Reset the TCP connection (RST) instead of answering. */
  | { reset: true };

export interface FakeIngress {
  port: number;
  /** `127.0.0.1:port`, for BindingDialer's `ingress`. */
  address: string;
  requests: ConnRequest[];
  /** TLS connections established. */
  connections: number;
  /** Application bytes received over all connections. */
  bytesReceived: number;
  /** Whether any accepted connection resumed a TLS session. */
  resumptions: number;
  /** Bytes that came after a ConnRequest and before its answer (early data), kept or dropped. */
  earlyBytes: number;
  close(): Promise<void>;
}

export interface FakeIngressOptions {
  identity: Identity;
  clientCA: string;
  answer: (request: ConnRequest) => IngressAnswer;
  maxVersion?: SecureVersion;
  /**
   * Bytes sent after the ConnRequest and before the answer: `keep` (default) passes them on;
   * `drop` loses all that came before it answers; `drop-first-read` only those in the read that
   * brought the header, as a server reading it through a buffered reader and then copying from the
   * raw connection would.
   */
  earlyData?: 'keep' | 'drop' | 'drop-first-read';
  /** Answer only once early bytes came: a client that waits for the answer hangs (tests prove early data). */
  holdAnswerForEarlyBytes?: boolean;
  /** Wait this long before answering each ConnRequest. */
  answerDelayMs?: number;
}

/**
 * Abort a server-side TLS connection with a TCP RST. A TLSSocket cannot reset (its handle is the TLS
 * wrap), but the server keeps the TCP socket it wrapped as `_parent`.
 */
export function resetTcp(socket: TLSSocket): void {
  const tcp = (socket as unknown as { _parent?: Socket | null })._parent;
  if (tcp === null || tcp === undefined) throw new Error('this TLS socket wraps no TCP socket');
  tcp.resetAndDestroy();
  socket.destroy();
}

export async function startIngress(options: FakeIngressOptions): Promise<FakeIngress> {
  const sockets = new Set<Socket | TLSSocket>();
  const track = (socket: Socket | TLSSocket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer({
    key: options.identity.keyPem,
    cert: options.identity.certPem,
    ca: [options.clientCA],
    requestCert: true,
    rejectUnauthorized: true,
    allowHalfOpen: true,
    ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
  });
  const state: FakeIngress = {
    port: 0,
    address: '',
    requests: [],
    connections: 0,
    bytesReceived: 0,
    resumptions: 0,
    earlyBytes: 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', track);
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (socket: TLSSocket) => {
    state.connections++;
    if (socket.isSessionReused()) state.resumptions++;
    socket.on('error', () => socket.destroy());
    const frames = new FrameAccumulator();
    let held: { message: Buffer; rest: Buffer } | null = null;
    const onData = (chunk: Buffer): void => {
      state.bytesReceived += chunk.length;
      if (held !== null) {
        held.rest = Buffer.concat([held.rest, chunk]);
        socket.off('data', onData);
        socket.pause();
        serve(held);
        return;
      }
      const result = frames.push(chunk);
      if (result === null) return;
      if (options.holdAnswerForEarlyBytes === true && result.rest.length === 0) {
        held = { message: result.message, rest: result.rest };
        return;
      }
      socket.off('data', onData);
      socket.pause();
      serve(result);
    };
    const serve = (result: { message: Buffer; rest: Buffer }): void => {
      const request = decodeConnRequestMessage(result.message);
      state.requests.push(request);
      const answer = options.answer(request);
      if ('reset' in answer) {
        resetTcp(socket);
      } else if ('raw' in answer) {
        socket.end(answer.raw);
      } else if ('errorCode' in answer) {
        socket.end(encodeConnResponse({ errorCode: answer.errorCode, errorMessage: answer.errorMessage }));
      } else {
        const backend = netConnect({ port: answer.backendPort, host: '127.0.0.1', allowHalfOpen: true });
        track(backend);
        backend.on('error', () => socket.destroy());
        socket.on('error', () => backend.destroy());
        const respond = (early: Buffer | undefined): void => {
          state.earlyBytes += result.rest.length + socket.readableLength;
          if (options.earlyData === 'drop' || options.earlyData === 'drop-first-read')
            result.rest = Buffer.alloc(0);
          if (options.earlyData === 'drop') while (socket.read() !== null);
          const response = encodeConnResponse({ endpointId: 'ep_test', proto: 'tcp' });
          socket.write(early === undefined ? response : Buffer.concat([response, early]));
          if (result.rest.length > 0) backend.write(result.rest);
          socket.on('data', (c: Buffer) => (state.bytesReceived += c.length));
          socket.pipe(backend);
          backend.pipe(socket);
          socket.resume();
        };
        const { early } = answer;
        backend.once('connect', () => setTimeout(() => respond(early), options.answerDelayMs ?? 0));
      }
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  state.port = typeof address === 'object' && address !== null ? address.port : 0;
  state.address = `127.0.0.1:${state.port}`;
  return state;
}

/** A TLS server that ends at its handshake, for how a client certificate is refused. */
export interface AlertingIngress {
  address: string;
  close(): Promise<void>;
}

/**
 * `openssl s_server` requiring a client certificate of the PKI's client CA. Unlike a node:tls
 * server (which checks the certificate in JavaScript after the handshake and just closes), OpenSSL
 * refuses a foreign certificate with a TLS alert, as Go's crypto/tls (ngrok's ingress) does: in the
 * handshake with TLS 1.2, right after it with TLS 1.3.
 */
export async function startAlertingIngress(
  pki: Pki,
  maxVersion: 'TLSv1.2' | 'TLSv1.3',
): Promise<AlertingIngress> {
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-openssl-'));
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const [leaf, ...chain] = pki.server.certPem
    .split(/(?<=-----END CERTIFICATE-----)\s*/)
    .filter((c) => c.trim());
  const args = [
    's_server',
    '-accept',
    '127.0.0.1:0',
    '-cert',
    file('leaf.pem', `${leaf ?? ''}\n`),
    '-cert_chain',
    file('chain.pem', `${chain.join('\n')}\n`),
    '-key',
    file('key.pem', pki.server.keyPem),
    '-CAfile',
    file('client-ca.pem', pki.clientCA.certPem),
    '-Verify',
    '1',
    '-verify_return_error',
    maxVersion === 'TLSv1.2' ? '-tls1_2' : '-tls1_3',
  ];
  const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = /ACCEPT (\S+:\d+)/.exec(out);
      if (match?.[1] !== undefined) resolve(match[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`openssl s_server exited (${code}): ${out}`)));
  });
  return {
    address,
    close: async () => {
      if (child.exitCode === null) {
        child.kill();
        await new Promise((resolve) => child.once('exit', resolve));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The test PKI on both sides of a binding connection: an ingress it serves and dialers that trust it. */
export interface BindingFixture {
  pki: Pki;
  /** Only the intermediate ("ngrok's CA"), not its root: allowPartialTrustChain makes that enough. */
  trust: IngressTrust;
  /** An ingress with the PKI's server certificate that accepts its client CA; `options` win. */
  ingress(options: Partial<FakeIngressOptions> & Pick<FakeIngressOptions, 'answer'>): Promise<FakeIngress>;
  /** A dialer to `ingress` (`host:port`) with the client certificate and `trust`; `overrides` win. */
  dialer(ingress: string, overrides?: Partial<BindingDialerOptions>): BindingDialer;
  /** Remove the temp directory the trust was loaded from. */
  removeDir(): void;
}

export async function createBindingFixture(tempPrefix: string): Promise<BindingFixture> {
  const pki = await createPki();
  const dir = mkdtempSync(join(tmpdir(), tempPrefix));
  writeFileSync(join(dir, 'ingress-ca.pem'), pki.ingressCA.certPem);
  const trust = loadIngressTrust({
    ingressCA: join(dir, 'ingress-ca.pem'),
    trustDir: join(dir, 'none'),
    systemRoots: false,
  });
  return {
    pki,
    trust,
    ingress: (options) => startIngress({ identity: pki.server, clientCA: pki.clientCA.certPem, ...options }),
    dialer: (ingress, overrides = {}) =>
      new BindingDialer({ ingress, servername: INGRESS_NAME, credentials: pki.client, trust, ...overrides }),
    removeDir: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Poll `condition` until it holds (events, not timing, decide the outcome; the cap only stops a hang). */
export async function eventually(condition: () => boolean, what: string, limitMs = 5_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
