/**
 * Verified connections to the binding ingress kept ready for the next dial. TLS 1.3 resumes in as
 * many round trips as a full handshake, so only a connection that is already open saves the TCP and
 * TLS round trips. A warm connection has not sent its ConnRequest yet, so any endpoint can use it.
 * The pool is demand-driven: it refills only after dials, only while they are recent, and stops
 * after a failed background handshake, so an idle app or a broken ingress costs nothing.
 */
import { performance } from 'node:perf_hooks';
import type { SecureContext, TLSSocket } from 'node:tls';

export const DEFAULT_WARM_CONNECTIONS = 2;
export const DEFAULT_WARM_IDLE_MS = 30_000;

const WARM_DROPPED = 'the dialer dropped its warm connections';

export interface WarmPoolOptions {
  /** Connections kept ready; 0 turns the pool off. */
  size: number;
  /** A connection unused this long is closed, and the pool is only refilled this soon after a dial. */
  idleMs: number;
  /** Bound on one background handshake. */
  timeoutMs: number;
  /** The context dials use now: a connection made with another one is never handed out. */
  context(): SecureContext;
  /** TCP and TLS to the ingress with `context`, resolving once the server certificate verified. */
  handshake(context: SecureContext, signal: AbortSignal): Promise<TLSSocket>;
}

/** A verified connection that has not sent its ConnRequest yet. */
interface WarmConnection {
  socket: TLSSocket;
  /** The credentials and trust it was made with. */
  context: SecureContext;
  readyAt: number;
  /** Detach the pool's listeners and expiry timer. */
  release(): void;
}

export class WarmPool {
  readonly #options: WarmPoolOptions;
  /** Newest last. */
  #warm: WarmConnection[] = [];
  /** The background handshake in flight (one at a time), to abort when the pool is dropped. */
  #warming: AbortController | null = null;
  /** Set by a failed background handshake, cleared by the next dial: never hammer a broken ingress. */
  #refillBlocked = false;
  #lastDialAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: WarmPoolOptions) {
    this.#options = options;
  }

  /** Warm connections ready for the next dial. */
  get ready(): number {
    return this.#warm.length;
  }

  /** A dial started at `at` (performance.now()): refilling is wanted again. */
  dialed(at: number): void {
    this.#lastDialAt = at;
    this.#refillBlocked = false;
  }

  /** The newest healthy warm connection, or none; unhealthy ones met on the way are closed. */
  take(): TLSSocket | undefined {
    for (let entry = this.#warm.pop(); entry !== undefined; entry = this.#warm.pop()) {
      entry.release();
      const { socket } = entry;
      const healthy =
        entry.context === this.#options.context() &&
        performance.now() - entry.readyAt < this.#options.idleMs &&
        !socket.destroyed &&
        !socket.readableEnded &&
        socket.errored === null &&
        socket.writable;
      if (healthy) {
        socket.ref();
        return socket;
      }
      socket.destroy();
    }
    return undefined;
  }

  /**
   * After a dial, handshake in the background (one at a time) until the pool is full again, but
   * only while dials are recent and no background handshake has failed since.
   */
  refill(): void {
    if (
      this.#closed ||
      this.#refillBlocked ||
      this.#warming !== null ||
      this.#warm.length >= this.#options.size ||
      performance.now() - this.#lastDialAt >= this.#options.idleMs
    )
      return;
    const warming = new AbortController();
    this.#warming = warming;
    const context = this.#options.context();
    const timer = setTimeout(() => warming.abort(new Error('timed out')), this.#options.timeoutMs).unref();
    this.#options.handshake(context, warming.signal).then(
      (socket) => {
        clearTimeout(timer);
        if (this.#warming !== warming || context !== this.#options.context() || this.#closed) {
          socket.destroy();
          return;
        }
        this.#warming = null;
        this.#park(socket, context);
        this.refill();
      },
      () => {
        // Never an error by itself: the next dial reports whatever is wrong.
        clearTimeout(timer);
        if (this.#warming !== warming) return;
        this.#warming = null;
        this.#refillBlocked = true;
      },
    );
  }

  /** Close warm connections and, unless told otherwise, abort the background handshake. */
  drop({ pending = true }: { pending?: boolean } = {}): void {
    for (const entry of this.#warm.splice(0)) {
      entry.release();
      entry.socket.destroy();
    }
    if (pending && this.#warming !== null) {
      const warming = this.#warming;
      this.#warming = null;
      warming.abort(new Error(WARM_DROPPED));
    }
  }

  /** Drop everything and never refill again. */
  close(): void {
    this.#closed = true;
    this.drop();
  }

  #park(socket: TLSSocket, context: SecureContext): void {
    const remove = (): void => {
      entry.release();
      const i = this.#warm.indexOf(entry);
      if (i >= 0) this.#warm.splice(i, 1);
    };
    // The ingress hung up on an idle connection: just forget it.
    const onEnd = (): void => {
      remove();
      socket.destroy();
    };
    // E.g. TLS 1.3 rejecting our certificate after the handshake: as good as a failed handshake.
    const onError = (): void => {
      this.#refillBlocked = true;
      remove();
    };
    const expiry = setTimeout(() => socket.destroy(), this.#options.idleMs).unref();
    const entry: WarmConnection = {
      socket,
      context,
      readyAt: performance.now(),
      release: () => {
        clearTimeout(expiry);
        socket.off('end', onEnd);
        socket.off('close', remove);
        socket.off('error', onError);
      },
    };
    socket.on('end', onEnd);
    socket.on('close', remove);
    socket.on('error', onError);
    this.#warm.push(entry);
  }
}
