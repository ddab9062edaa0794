/**
 * Fake binding ingress (shared/ngrok-protocol.md §3): mTLS on loopback, one ConnRequest frame in,
 * one ConnResponse frame out, then raw bytes spliced to the endpoint's backend with half-close
 * carried both ways, and a reset of either side carried to the other as a reset. Fault modes
 * (`behaviour`, `resetAfterBytes`) make it fail the ways a real ingress or the path to it can.
 */
import tls from 'node:tls';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  decodeConnRequestMessage,
  encodeConnResponse,
  FrameAccumulator,
} from '../../main/engine/binding/frames.ts';
import type { ConnRequest, ConnResponse } from '../../main/engine/binding/frames.ts';
import { endedByReset, resetConnection } from '../../main/system/abortive-close.ts';
import type { IssuedCert } from './ca.ts';
import type { EndpointStore } from './api-server.ts';
import { closeServer, listen } from './backends.ts';
import type { Backends } from './backends.ts';

export const DEFAULT_INGRESS_SERVER_NAME = 'binding-ingress.sim.ngrokd.test';

/** A length of 6, then a tag with wire type 7: framed, but not protobuf. */
const GARBAGE_FRAME = Buffer.from([0x06, 0x00, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * How the ingress treats a new connection:
 *  - `normal`: answers the ConnRequest and splices;
 *  - `garbage`: answers with a frame that is not a ConnResponse;
 *  - `close`: reads the ConnRequest and closes cleanly without a response;
 *  - `reset`: reads the ConnRequest and resets the TCP connection (RST) without a response, i.e.
 *    after the TLS handshake and before any ConnResponse;
 *  - `silent`: reads the ConnRequest and never answers (client response timeouts);
 *  - `stall`: accepts the TCP connection, then never reads nor writes a byte (no TLS handshake)
 *    and keeps it open, like a black-holed ingress (client handshake timeouts).
 */
export type IngressBehaviour = 'normal' | 'garbage' | 'close' | 'reset' | 'silent' | 'stall';

export interface HostFailure {
  errorCode: string;
  errorMessage?: string;
}

export interface ReceivedConnRequest extends ConnRequest {
  at: number;
}

/**
 * The TLS 1.3 suites in the order a Go server (what ngrok's ingress presumably is) prefers them on
 * AES-NI hardware; OpenSSL servers pick by their own order, so without this the simulator would
 * pick AES-256-GCM where the real ingress likely picks AES-128-GCM. TLS 1.2 stays Node's default.
 */
const GO_SERVER_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_256_GCM_SHA384',
  ...tls.DEFAULT_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_')),
].join(':');

export interface IngressServerOptions {
  store: EndpointStore;
  backends: Backends;
  /** Leaf + intermediate presented normally. */
  serverCert: IssuedCert;
  /** Presented after `useUntrustedCert(true)`: signed by a CA clients do not trust. */
  untrustedCert?: IssuedCert;
  /** CA(s) that client certificates must chain to. */
  clientCaPem: string;
  serverName?: string;
  maxVersion?: tls.SecureVersion;
}

export class IngressServer {
  port = 0;
  readonly serverName: string;
  readonly requests: ReceivedConnRequest[] = [];
  /** Full vs resumed handshakes, from `socket.isSessionReused()`. */
  readonly handshakes = { full: 0, resumed: 0 };
  /** Handshakes or client certificates the server rejected (`tlsClientError`). */
  readonly tlsErrors: string[] = [];
  /** ConnRequest frames that did not decode. */
  protocolErrors = 0;
  behaviour: IngressBehaviour = 'normal';
  /**
   * When set, every spliced connection is reset (TCP RST, both ways) once this many bytes went
   * from the backend to the client: a drop mid-download.
   */
  resetAfterBytes: number | null = null;
  /** Connections taken in by `stall`, open and untouched. */
  stalledConnections = 0;
  /**
   * How spliced connections from clients ended: `clean` a FIN (after close_notify or not: Node
   * cannot tell), `reset` a reset or an error; each side's end is carried to the backend the same
   * way.
   */
  readonly clientEnds = { clean: 0, reset: 0 };
  /** Delay before each ConnResponse. */
  responseDelayMs = 0;
  /** Sent with every successful ConnResponse. */
  notices: string[] = [];
  /**
   * What happens to bytes a client sends after its ConnRequest and before the ConnResponse, which
   * is unconfirmed for the real ingress: `keep` hands them to the backend in order; `drop` models a
   * server that reads the header through a buffered reader and then copies from the raw
   * connection, losing everything that had arrived by the time it answers; `drop-first-read` only
   * those that came in the read that brought the header (what such a buffered reader loses exactly).
   */
  earlyData: 'keep' | 'drop' | 'drop-first-read' = 'keep';
  private readonly options: IngressServerOptions;
  /** Takes the TCP connections and hands them to `server` (unless stalling). */
  private readonly listener: net.Server;
  private readonly server: tls.Server;
  private ticketKeys = randomBytes(48);
  private readonly sockets = new Set<net.Socket>();
  private readonly hostFailures = new Map<string, HostFailure>();
  private readonly roundRobin = new Map<string, number>();

  constructor(options: IngressServerOptions) {
    this.options = options;
    this.serverName = options.serverName ?? DEFAULT_INGRESS_SERVER_NAME;
    this.server = tls.createServer(
      {
        ...this.context(options.serverCert),
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
        allowHalfOpen: true,
        // Like Go's listeners (and so presumably ngrok's ingress): without it the ConnResponse
        // after a full handshake waits ~40 ms for the client's delayed ACK.
        noDelay: true,
      },
      (socket) => this.accept(socket),
    );
    this.server.on('tlsClientError', (err) => this.tlsErrors.push(err.message));
    this.listener = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      if (this.behaviour === 'stall') {
        this.stalledConnections++;
        socket.pause();
        socket.on('error', () => socket.destroy());
        return;
      }
      this.server.emit('connection', socket);
    });
  }

  static async start(options: IngressServerOptions): Promise<IngressServer> {
    const ingress = new IngressServer(options);
    ingress.port = await listen(ingress.listener);
    return ingress;
  }

  /** `127.0.0.1:port`, what a client dials. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get activeConnections(): number {
    return this.sockets.size;
  }

  /** Answer every ConnRequest for `host` with this error (e.g. ERR_NGROK_28001). */
  failHost(host: string, failure: HostFailure): void {
    this.hostFailures.set(host.toLowerCase(), failure);
  }

  clearHostFailures(): void {
    this.hostFailures.clear();
  }

  /**
   * Present a server cert from a foreign CA to new connections (or go back to the trusted one). An
   * impostor would not hold the real server's session-ticket keys, so they are rotated too: clients
   * cannot resume their way past verification.
   */
  useUntrustedCert(untrusted: boolean): void {
    const cert = untrusted ? this.options.untrustedCert : this.options.serverCert;
    if (cert === undefined) throw new Error('the ingress was started without an untrusted certificate');
    this.ticketKeys = randomBytes(48);
    this.server.setSecureContext(this.context(cert));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await closeServer(this.listener);
  }

  /** The current ticket keys in every context, so a renewed context keeps resumption working. */
  private context(cert: IssuedCert): tls.SecureContextOptions {
    return {
      key: cert.keyPem,
      cert: cert.chainPem,
      ca: this.options.clientCaPem,
      ticketKeys: this.ticketKeys,
      ciphers: GO_SERVER_CIPHERS,
    };
  }

  private accept(socket: tls.TLSSocket): void {
    if (socket.isSessionReused()) this.handshakes.resumed++;
    else this.handshakes.full++;
    socket.on('error', () => socket.destroy());
    const frames = new FrameAccumulator();
    let gotFrame = false;
    const onData = (chunk: Buffer): void => {
      const got = frames.push(chunk);
      if (got === null) return;
      gotFrame = true;
      socket.off('data', onData);
      socket.pause();
      void this.serve(socket, got.message, got.rest);
    };
    socket.on('data', onData);
    socket.once('end', () => {
      if (!gotFrame) socket.end();
    });
  }

  private async serve(socket: tls.TLSSocket, message: Buffer, rest: Buffer): Promise<void> {
    let request: ConnRequest;
    try {
      request = decodeConnRequestMessage(message);
    } catch {
      this.protocolErrors++;
      socket.destroy();
      return;
    }
    this.requests.push({ ...request, at: Date.now() });
    if (this.responseDelayMs > 0) await sleep(this.responseDelayMs);
    if (this.behaviour === 'silent') return;
    if (this.behaviour === 'close') return void socket.end();
    if (this.behaviour === 'reset') return resetConnection(socket);
    if (this.behaviour === 'garbage') return void socket.end(GARBAGE_FRAME);

    const refuse = (response: Partial<ConnResponse>): void => void socket.end(encodeConnResponse(response));
    const host = request.host.toLowerCase();
    const failure = this.hostFailures.get(host);
    if (failure !== undefined)
      return refuse({
        errorCode: failure.errorCode,
        errorMessage: failure.errorMessage ?? `${failure.errorCode}`,
      });
    const group = this.options.store.lookup(host, request.port);
    const key = `${host}:${request.port}`;
    const turn = this.roundRobin.get(key) ?? 0;
    this.roundRobin.set(key, turn + 1);
    const endpoint = group[turn % Math.max(group.length, 1)];
    if (endpoint === undefined)
      return refuse({
        errorCode: 'ERR_NGROK_8012',
        errorMessage: `No bound endpoint is online for ${request.host}:${request.port}.`,
      });

    let upstream: net.Socket;
    try {
      upstream = await this.options.backends.connect(endpoint.backend, {
        endpointId: endpoint.id,
        endpointHost: endpoint.host,
      });
    } catch (err) {
      return refuse({
        errorCode: 'ERR_NGROK_3200',
        errorMessage: `The upstream for ${endpoint.url} is offline: ${(err as Error).message}`,
      });
    }
    if (socket.destroyed) return void upstream.destroy();
    if (this.earlyData !== 'keep') {
      // The bytes after the header in the first read, and (`drop`) whatever else arrived before answering.
      rest = Buffer.alloc(0);
      if (this.earlyData === 'drop') while (socket.read() !== null);
    }
    socket.write(
      encodeConnResponse({ endpointId: endpoint.id, proto: endpoint.proto, notices: this.notices }),
    );
    if (rest.length > 0) upstream.write(rest);
    this.splice(socket, upstream);
  }

  /**
   * Pipe both ways; a FIN from either side ends the other's write side only (half-close). Both
   * sockets close once both directions are done; a reset, an error or an abrupt close of one
   * resets the other.
   */
  private splice(client: tls.TLSSocket, backend: net.Socket): void {
    let aborted = false;
    const abort = (): void => {
      if (aborted) return;
      aborted = true;
      resetConnection(client);
      resetConnection(backend);
    };
    client.pipe(backend, { end: false });
    const limit = this.resetAfterBytes;
    if (limit === null) {
      backend.pipe(client, { end: false });
    } else {
      let relayed = 0;
      backend.on('data', (chunk: Buffer) => {
        if (aborted) return;
        if (relayed + chunk.length < limit) {
          relayed += chunk.length;
          if (!client.write(chunk)) backend.pause();
          return;
        }
        client.write(chunk.subarray(0, limit - relayed));
        relayed = limit;
        abort();
      });
      client.on('drain', () => backend.resume());
    }
    /** Counts how the client's side ended, unless we were tearing it down already. */
    const clientEnded = (how: 'clean' | 'reset'): void => {
      if (!aborted) this.clientEnds[how]++;
    };
    client.on('end', () => {
      if (endedByReset(client)) {
        clientEnded('reset');
        abort();
      } else {
        clientEnded('clean');
        backend.end();
      }
    });
    backend.on('end', () => {
      if (endedByReset(backend)) abort();
      else client.end();
    });
    client.on('error', () => {
      clientEnded('reset');
      abort();
    });
    backend.on('error', abort);
    client.on('close', () => {
      if (!client.readableEnded) clientEnded('reset');
    });
    for (const s of [client, backend])
      s.on('close', () => {
        if (!client.readableEnded || !backend.readableEnded) abort();
      });
  }
}
