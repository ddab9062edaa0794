/**
 * The services behind simulated endpoints: an HTTP server that reports what it received and a raw
 * TCP echo. Both listen on loopback; the ingress dials them per connection, so piping stays in
 * libuv (fast enough for the 256 MiB benchmark) and half-close behaves like a real upstream.
 */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { Proto } from '../../main/common/endpoint-url.ts';

export type BackendKind = 'http' | 'echo';
/** A built-in backend, or any TCP address (for tests that bring their own server). */
export type BackendTarget = BackendKind | { host: string; port: number };

/** What the HTTP backend reports about the endpoint a connection was made for. */
export interface BackendConnectionInfo {
  endpointId: string;
  endpointHost: string;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export function defaultBackend(proto: Proto): BackendKind {
  return proto === 'http' || proto === 'https' ? 'http' : 'echo';
}

/** Stream `n` bytes without holding them in memory. */
function writeBytes(res: http.ServerResponse, n: number): void {
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

export class Backends {
  httpPort = 0;
  echoPort = 0;
  /** Requests answered by the HTTP backend, oldest first. */
  readonly httpRequests: { host: string | undefined; path: string; method: string; endpointHost: string }[] =
    [];
  private readonly httpServer: http.Server;
  private readonly echoServer: net.Server;
  private readonly echoSockets = new Set<net.Socket>();
  /** Keyed by the local port of the ingress's loopback connection = the backend's remote port. */
  private readonly connections = new Map<number, BackendConnectionInfo>();

  constructor() {
    this.httpServer = http.createServer({ keepAlive: true }, (req, res) => this.answer(req, res));
    this.echoServer = net.createServer({ allowHalfOpen: true }, (socket) => {
      this.echoSockets.add(socket);
      socket.on('close', () => this.echoSockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.pipe(socket); // ends our side after the peer's FIN, once everything is echoed
    });
  }

  static async start(): Promise<Backends> {
    const backends = new Backends();
    backends.httpPort = await listen(backends.httpServer);
    backends.echoPort = await listen(backends.echoServer);
    return backends;
  }

  /** Open a loopback connection to the endpoint's backend (resolves once connected). */
  async connect(target: BackendTarget, info: BackendConnectionInfo): Promise<net.Socket> {
    const address =
      typeof target === 'object'
        ? target
        : { host: '127.0.0.1', port: target === 'http' ? this.httpPort : this.echoPort };
    const socket = net.connect({ ...address, allowHalfOpen: true, noDelay: true });
    await once(socket, 'connect');
    const localPort = socket.localPort;
    if (localPort !== undefined) {
      this.connections.set(localPort, info);
      socket.once('close', () => this.connections.delete(localPort));
    }
    return socket;
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const info = this.connections.get(req.socket.remotePort ?? -1);
    const path = req.url ?? '/';
    let received = 0;
    req.on('data', (chunk: Buffer) => (received += chunk.length));
    req.on('end', () => {
      const endpointHost = info?.endpointHost ?? '';
      this.httpRequests.push({ host: req.headers.host, path, method: req.method ?? '', endpointHost });
      const bytes = /^\/bytes\/([0-9]+)$/.exec(path);
      if (bytes !== null) {
        const n = Number(bytes[1]);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
        writeBytes(res, n);
        return;
      }
      const body = JSON.stringify({
        ok: true,
        host: req.headers.host ?? null,
        endpoint_host: endpointHost,
        endpoint_id: info?.endpointId ?? '',
        method: req.method,
        path,
        received_bytes: received,
      });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-sim-endpoint': endpointHost,
      });
      res.end(body);
    });
  }

  async close(): Promise<void> {
    this.httpServer.closeAllConnections();
    for (const socket of this.echoSockets) socket.destroy();
    await Promise.all([closeServer(this.httpServer), closeServer(this.echoServer)]);
  }
}

export async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
