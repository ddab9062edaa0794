/**
 * Forwards every connection accepted on one endpoint's local address to the binding ingress: dial,
 * ConnRequest{host, port}, then bytes both ways with backpressure and half-close. This is the hot
 * path: data moves by plain write()/pause()/resume() (what pipe() does, minus a stream hop), and
 * counting is a number increment per chunk.
 */
import type { Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { EndpointAddress } from '../../common/endpoint-url.ts';
import type { ListenSocket } from '../../common/privileged.ts';
import type { Dialer } from '../binding/dialer.ts';
import { silentLogger, type Logger } from '../log.ts';
import { EndpointCounters } from './counters.ts';
import { HostRewriter } from './host-rewrite.ts';

/** How long a refused client may take to read our answer and close before we drop it. */
const REFUSAL_LINGER_MS = 5_000;

export interface EndpointListenerOptions {
  /** The endpoint's listening socket; the listener takes it over and closes it. */
  socket: ListenSocket;
  address: EndpointAddress;
  dialer: Dialer;
  counters?: EndpointCounters;
  logger?: Logger;
}

/** net.Server reads these when it accepts; they are not in its typings. */
interface AcceptOptions {
  allowHalfOpen: boolean;
  pauseOnConnect: boolean;
}

export class EndpointListener {
  readonly address: EndpointAddress;
  readonly counters: EndpointCounters;
  readonly port: number;
  private readonly server: Server;
  private readonly dialer: Dialer;
  private readonly log: Logger;
  /** Created on the first connection: most of 10,000 endpoints never see one. */
  private sockets: Set<Socket | TLSSocket> | null = null;
  private dials: Set<AbortController> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Set by close(): called when the last socket has closed. */
  private onDrained: (() => void) | null = null;

  constructor(options: EndpointListenerOptions) {
    this.address = options.address;
    this.dialer = options.dialer;
    this.counters = options.counters ?? new EndpointCounters();
    // No child logger per endpoint (10,000 of them add up): log calls name the endpoint instead.
    this.log = options.logger ?? silentLogger;
    this.server = options.socket.server;
    this.port = options.socket.port;
    // Half-close must survive (a client may send FIN and still read the answer), and nothing may be
    // read from a client before the ingress accepted the connection (backpressure from byte one).
    const accept = this.server as unknown as AcceptOptions;
    accept.allowHalfOpen = true;
    accept.pauseOnConnect = true;
    this.server.on('connection', this.onConnection);
  }

  get activeConnections(): number {
    return this.counters.active;
  }

  /** Stop listening and destroy every connection, including those still dialing. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.server.off('connection', this.onConnection);
    for (const dial of this.dials ?? []) dial.abort();
    const socketsClosed = new Promise<void>((resolve) => {
      if (this.sockets === null || this.sockets.size === 0) resolve();
      else this.onDrained = resolve;
    });
    for (const socket of this.sockets ?? []) socket.destroy();
    const serverClosed = new Promise<void>((resolve) => {
      // An error here only means it was not listening any more.
      this.server.close(() => resolve());
    });
    this.closing = Promise.all([serverClosed, socketsClosed]).then(() => undefined);
    return this.closing;
  }

  private readonly onConnection = (client: Socket): void => {
    if (this.closed) {
      client.destroy();
      return;
    }
    const acceptedAt = performance.now();
    client.allowHalfOpen = true;
    client.pause();
    client.setNoDelay(true);
    this.track(client);
    this.counters.connectionOpened();
    client.once('close', () => this.counters.connectionClosed());
    // Until the streams are joined, a client error only ends this connection.
    client.on('error', (err) =>
      this.log.debug({ err, endpoint: this.address.normalized }, 'local connection error'),
    );

    const dial = new AbortController();
    const dials = (this.dials ??= new Set());
    dials.add(dial);
    this.dialer.dial(this.address.hostname, this.address.port, { signal: dial.signal }).then(
      (connection) => {
        dials.delete(dial);
        const upstream = connection.socket;
        if (this.closed || client.destroyed) {
          upstream.destroy();
          return;
        }
        this.counters.recordUpgrade(performance.now() - acceptedAt);
        this.track(upstream);
        this.join(client, upstream);
      },
      (err: unknown) => {
        dials.delete(dial);
        if (this.closed) return;
        const error = this.counters.recordError(err);
        this.log.debug({ err, endpoint: this.address.normalized }, 'dial failed');
        if (!client.destroyed)
          this.refuse(client, `${error.ngrokCode ?? error.code}: ${error.message}`, error.fix);
      },
    );
  };

  private track(socket: Socket | TLSSocket): void {
    const sockets = (this.sockets ??= new Set());
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) this.onDrained?.();
    });
  }

  /** Bytes both ways until both directions have ended; either side failing ends both. */
  private join(client: Socket, upstream: TLSSocket): void {
    const counters = this.counters;
    upstream.setNoDelay(true);
    const rewriter = this.address.proto === 'http' ? new HostRewriter(this.address) : null;

    const toUpstream = (chunk: Buffer): void => {
      counters.bytesOut += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    };
    if (rewriter === null) {
      client.on('data', toUpstream);
    } else {
      client.on('data', (chunk: Buffer) => {
        for (const part of rewriter.push(chunk)) toUpstream(part);
      });
    }
    upstream.on('drain', () => client.resume());
    client.on('end', () => {
      if (rewriter !== null) for (const part of rewriter.end()) toUpstream(part);
      upstream.end();
    });

    upstream.on('data', (chunk: Buffer) => {
      counters.bytesIn += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    upstream.on('end', () => client.end());

    upstream.on('error', (err) => {
      counters.recordError(err);
      this.log.debug({ err, endpoint: this.address.normalized }, 'ingress connection error');
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    // A side that closes before both of its directions finished was torn down: the other one
    // can no longer deliver, so it goes too. A side that finished normally lets the other flush.
    const tearDownWith = (closed: Socket, other: Socket): void => {
      closed.once('close', () => {
        if (!(closed.readableEnded && closed.writableFinished)) other.destroy();
      });
    };
    tearDownWith(client, upstream);
    tearDownWith(upstream, client);

    client.resume();
    upstream.resume();
  }

  /**
   * Answer a client we could not connect. HTTP gets a 502 naming the ngrok error (https is TLS end
   * to end, so it cannot); everything else gets a clean close. The client's bytes are read and
   * dropped so closing sends FIN, not RST, and the answer is not lost.
   */
  private refuse(client: Socket, reason: string, fix: string): void {
    client.on('data', () => {});
    client.resume();
    client.setTimeout(REFUSAL_LINGER_MS, () => client.destroy());
    if (this.address.proto !== 'http') {
      client.end();
      return;
    }
    const body = `ngrokd could not connect to ${this.address.hostname}:${this.address.port} through the ngrok binding ingress.\n${reason}\n${fix}\n`;
    client.end(
      'HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
}
