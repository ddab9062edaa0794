/**
 * Forwards every connection accepted on one endpoint's local address to the binding ingress: dial,
 * ConnRequest{host, port}, then bytes both ways with backpressure and half-close. This is the hot
 * path: data moves by plain write()/pause()/resume() (what pipe() does, minus a stream hop), and
 * counting is a number increment per chunk.
 *
 * A side that ends cleanly (FIN) ends the other side's write direction, and the other direction goes
 * on. A side that fails (a reset, an error, a close before both of its directions finished) resets
 * the other (RST), so a truncated stream never reaches a client as a complete, short one.
 */
import type { Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { EndpointAddress } from '../../common/endpoint-url.ts';
import type { ListenSocket } from '../../common/privileged.ts';
import { NgrokdError, errorCode } from '../../common/errors.ts';
import type { Dialer } from '../binding/dialer.ts';
import { EarlyBytes } from '../binding/early-data.ts';
import { silentLogger, type Logger } from '../log.ts';
import { endedByReset, resetConnection } from '../../system/abortive-close.ts';
import { EndpointCounters } from './counters.ts';
import { HostRewriter } from './host-rewrite.ts';
import { ConnectionRecorder, type Exchange } from '../inspector/recorder.ts';
import type { RequestStore } from '../inspector/store.ts';

/** How long a refused client may take to read our answer and close before we drop it. */
const REFUSAL_LINGER_MS = 5_000;

/** What the forwarder tells the metrics as connections go (metrics.ts); per connection, never per chunk. */
export interface ForwarderMetrics {
  upgraded(hostname: string, ms: number): void;
}

export interface EndpointListenerOptions {
  /** The endpoint's listening socket; the listener takes it over and closes it. */
  socket: ListenSocket;
  address: EndpointAddress;
  dialer: Dialer;
  counters?: EndpointCounters;
  logger?: Logger;
  /**
   * Close a forwarded connection after this many ms without a byte either way; 0 (the default)
   * never does: long-lived, quiet database connections are normal.
   */
  idleTimeoutMs?: number;
  /** The request inspector's store (http endpoints), or null/undefined for none. */
  inspector?: RequestStore | null;
  /** Told each upgrade's latency (the metrics histogram), or null/undefined for none. */
  metrics?: ForwarderMetrics | null;
}

/** One connection's HTTP parser (Host rewrite) and inspector record, where the endpoint has them. */
interface Inspection {
  rewriter: HostRewriter<Exchange> | null;
  recorder: ConnectionRecorder | null;
}

/**
 * A connection whose first bytes go to the ingress before it answered (early data): what the
 * forwarder set up for them, handed on to join() or refuse().
 */
interface EarlyStart extends Inspection {
  early: EarlyBytes;
  /** The client's end (FIN or reset) came while dialing. */
  ended: boolean;
  onData: (chunk: Buffer) => void;
  onEnd: () => void;
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
  private readonly idleTimeoutMs: number;
  private readonly inspector: RequestStore | null;
  private readonly metrics: ForwarderMetrics | null;
  /** Created on the first connection: most of 10,000 endpoints never see one. */
  private sockets: Set<Socket | TLSSocket> | null = null;
  private dials: Set<AbortController> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Set by close(): called when the last socket has closed. */
  private onDrained: (() => void) | null = null;
  private warnedH2c = false;

  constructor(options: EndpointListenerOptions) {
    this.address = options.address;
    this.dialer = options.dialer;
    this.counters = options.counters ?? new EndpointCounters();
    // No child logger per endpoint (10,000 of them add up): log calls name the endpoint instead.
    this.log = options.logger ?? silentLogger;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.inspector = options.address.proto === 'http' ? (options.inspector ?? null) : null;
    this.metrics = options.metrics ?? null;
    this.server = options.socket.server;
    this.port = options.socket.port;
    // Half-close must survive (a client may send FIN and still read the answer), and a client is only
    // read once its dial has started: with early data at most EARLY_DATA_LIMIT bytes before the
    // ingress answered, without it nothing (backpressure from byte one).
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
    const { hostname, port, proto } = this.address;
    if (proto === 'http') this.dialer.learnEarlyData?.(hostname, port);
    const start = this.dialer.sendsEarlyData?.() === true ? this.startEarly(client) : null;
    const options = start === null ? { signal: dial.signal } : { signal: dial.signal, early: start.early };
    this.dialer.dial(hostname, port, options).then(
      (connection) => {
        dials.delete(dial);
        const upstream = connection.socket;
        if (this.closed || client.destroyed) {
          // The service got the client's early bytes: it must see the reset, not a clean end.
          if (start !== null && start.early.bytes > 0) resetConnection(upstream);
          else upstream.destroy();
          start?.recorder?.close(start.early.bytes, 0);
          return;
        }
        const upgradeMs = performance.now() - acceptedAt;
        this.counters.recordUpgrade(upgradeMs);
        this.metrics?.upgraded(this.address.hostname, upgradeMs);
        this.track(upstream);
        this.join(client, upstream, start);
      },
      (err: unknown) => {
        dials.delete(dial);
        if (this.closed) return;
        const error = this.counters.recordError(err);
        this.log.debug({ err, endpoint: this.address.normalized }, 'dial failed');
        if (!client.destroyed)
          this.refuse(client, error.ngrokCode ?? error.code, error.message, error.fix, start);
        else start?.recorder?.close(start.early.bytes, 0);
      },
    );
  };

  /**
   * Read the client while dialing: its bytes (Host-rewritten, seen by the inspector) go to the
   * ingress right behind the ConnRequest. Past the early-data limit the client waits for the dial.
   */
  private startEarly(client: Socket): EarlyStart {
    const { rewriter, recorder } = this.inspection(client);
    const early = new EarlyBytes();
    const counters = this.counters;
    const start: EarlyStart = {
      early,
      rewriter,
      recorder,
      ended: false,
      onData: (chunk) => {
        const parts = rewriter === null || rewriter.passthrough ? [chunk] : rewriter.push(chunk);
        for (const part of parts) {
          counters.bytesOut += part.length;
          if (!early.write(part)) client.pause();
        }
      },
      onEnd: () => {
        start.ended = true;
      },
    };
    client.on('data', start.onData);
    client.once('end', start.onEnd);
    client.resume();
    return start;
  }

  private inspection(client: Socket): Inspection {
    const recorder =
      this.inspector === null
        ? null
        : new ConnectionRecorder(this.inspector, this.address, client.remotePort);
    const rewriter = this.address.proto === 'http' ? new HostRewriter(this.address, recorder) : null;
    return { rewriter, recorder };
  }

  /** The dial is over: the client's bytes are the caller's again. */
  private endEarly(client: Socket, start: EarlyStart): void {
    client.off('data', start.onData);
    client.off('end', start.onEnd);
    client.pause();
  }

  private track(socket: Socket | TLSSocket): void {
    const sockets = (this.sockets ??= new Set());
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) this.onDrained?.();
    });
  }

  /**
   * Bytes both ways until both directions have ended. A clean end (FIN) of one side ends the other's
   * write direction; one side failing resets the other.
   */
  private join(client: Socket, upstream: TLSSocket, start: EarlyStart | null): void {
    const counters = this.counters;
    upstream.setNoDelay(true);
    if (start !== null) this.endEarly(client, start);
    const { rewriter, recorder } = start ?? this.inspection(client);
    /** This connection's bytes to the client, for the error message of a drop. */
    let delivered = 0;
    let sent = start?.early.bytes ?? 0;
    let failed = false;
    /** The client ended while its last bytes wait for the server's answer to an upgrade. */
    let endAfterAnswer = false;

    const toUpstream = (chunk: Buffer): void => {
      counters.bytesOut += chunk.length;
      sent += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    };
    const toClient = (chunk: Buffer): void => {
      counters.bytesIn += chunk.length;
      delivered += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    };
    const endUpstream = (): void => {
      if (rewriter !== null) for (const part of rewriter.end()) toUpstream(part);
      upstream.end();
    };
    /** One side failed: reset the other (or close it, where all it was owed has been delivered). */
    const fail = (side: 'client' | 'ingress', err: unknown): void => {
      if (failed) return;
      failed = true;
      if (side === 'ingress') {
        const error = counters.recordError(this.dropped(err, delivered));
        this.log.debug({ err, endpoint: this.address.normalized }, error.message);
      }
      const other = side === 'client' ? upstream : client;
      // Bytes still queued for the other side would be lost to a reset; when its direction has
      // already ended cleanly, it gets a plain close instead.
      if (other.writableFinished) other.destroy();
      else resetConnection(other);
      (side === 'client' ? client : upstream).destroy();
    };

    if (rewriter?.passthrough === true) this.passedThrough(rewriter);
    if (rewriter === null || rewriter.passthrough) client.on('data', toUpstream);
    if (rewriter === null) {
      upstream.on('data', toClient);
    } else {
      const rewrite = (chunk: Buffer): void => {
        for (const part of rewriter.push(chunk)) toUpstream(part);
        if (rewriter.passthrough) {
          // Nothing is parsed any more: the plain hot path from the next chunk on.
          client.off('data', rewrite);
          client.on('data', toUpstream);
          this.passedThrough(rewriter);
        }
      };
      const watch = (chunk: Buffer): void => {
        toClient(chunk);
        for (const part of rewriter.pushResponse(chunk)) toUpstream(part);
        if (endAfterAnswer && !rewriter.awaitingAnswer) {
          endAfterAnswer = false;
          endUpstream();
        }
        if (!rewriter.watchingResponses) {
          upstream.off('data', watch);
          upstream.on('data', toClient);
        }
      };
      if (!rewriter.passthrough) client.on('data', rewrite);
      upstream.on('data', watch);
    }
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());

    const onClientEnd = (): void => {
      // On Linux a reset often shows as a clean end; the kernel still knows which it was.
      if (endedByReset(client)) return fail('client', null);
      if (rewriter?.awaitingAnswer === true) endAfterAnswer = true;
      else endUpstream();
    };
    if (start?.ended === true) onClientEnd();
    else client.on('end', onClientEnd);
    upstream.on('end', () => {
      // A drop mid-stream must not reach the client as a clean (short) end.
      if (endedByReset(upstream)) return fail('ingress', null);
      if (rewriter !== null) {
        // No answer is coming: bytes held for one go out as they are.
        for (const part of rewriter.abandon()) toUpstream(part);
        if (endAfterAnswer) {
          endAfterAnswer = false;
          endUpstream();
        }
      }
      client.end();
    });
    upstream.on('error', (err) => fail('ingress', err));
    client.on('error', (err) => fail('client', err));
    // A side that closes before both of its directions finished was torn down: the other one can no
    // longer be served, so it is reset. A side that finished normally lets the other flush.
    client.once('close', () => {
      if (!(client.readableEnded && client.writableFinished)) fail('client', null);
      recorder?.close(sent, delivered);
    });
    upstream.once('close', () => {
      if (!(upstream.readableEnded && upstream.writableFinished)) fail('ingress', null);
    });

    if (this.idleTimeoutMs > 0) {
      // Every byte either way passes through the client socket (read or written), so its own
      // inactivity timer is the connection's. An idle close is a policy, not a failure: both sides
      // get a clean close (FIN), with nothing in flight to lose.
      client.setTimeout(this.idleTimeoutMs, () => {
        if (failed) return;
        failed = true;
        counters.idleTimeouts++;
        this.log.debug(
          { endpoint: this.address.normalized, idleTimeoutMs: this.idleTimeoutMs },
          'idle connection closed',
        );
        upstream.destroy();
        client.destroy();
      });
    }
    client.resume();
    upstream.resume();
  }

  /** What an ingress connection that dropped mid-stream is reported as. */
  private dropped(err: unknown, delivered: number): NgrokdError {
    const { hostname, port } = this.address;
    const how =
      err === null ? 'reset the connection' : `failed (${errorCode(err) ?? (err as Error).message})`;
    return new NgrokdError(
      'INGRESS_RESET',
      `the binding ingress connection for ${hostname}:${port} ${how} after ${delivered} bytes to the client`,
      'The local connection was reset too, so the client sees the drop (ECONNRESET) rather than a short answer: retry. If it keeps happening, check that no proxy or firewall cuts long connections to the ingress.',
      { cause: err ?? undefined },
    );
  }

  /** The Host rewrite of a connection stopped; HTTP/2 cleartext cannot be rewritten at all. */
  private passedThrough<X>(rewriter: HostRewriter<X>): void {
    if (rewriter.passthroughReason === 'hold-limit') this.counters.upgradeHoldOverflows++;
    if (rewriter.passthroughReason !== 'h2c') return;
    this.counters.h2cConnections++;
    if (this.warnedH2c) return;
    this.warnedH2c = true;
    this.log.warn(
      { endpoint: this.address.normalized },
      'HTTP/2 cleartext with prior knowledge is forwarded without a Host rewrite (its :authority cannot be changed): a client that connects by IP is not routed by hostname. Use the hostname, or HTTP/1.1.',
    );
  }

  /**
   * Answer a client we could not connect. HTTP gets a 502 naming the ngrok error (https is TLS end
   * to end, so it cannot); everything else gets a clean close. The client's bytes are read and
   * dropped so closing sends FIN, not RST, and the answer is not lost.
   */
  private refuse(client: Socket, code: string, message: string, fix: string, start: EarlyStart | null): void {
    const reason = `${code}: ${message}`;
    if (start !== null) this.endEarly(client, start);
    const { rewriter, recorder } = start ?? this.inspection(client);
    if (recorder !== null && rewriter !== null) {
      // The request the client sent (early or not) is recorded, answered by our 502.
      recorder.refused(code);
      const parser = rewriter;
      client.on('data', (chunk: Buffer) => {
        if (!parser.passthrough) parser.push(chunk);
      });
      client.once('close', () => recorder.close(0, 0));
    } else {
      client.on('data', () => {});
    }
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
