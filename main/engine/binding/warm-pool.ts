/**
 * Verified connections to the binding ingress kept ready for the next dial. TLS 1.3 resumes in as
 * many round trips as a full handshake, so only a connection that is already open saves the TCP and
 * TLS round trips. A warm connection has not sent its ConnRequest yet, so any endpoint can use it.
 * The pool is demand-driven: it refills only after dials, only while they are recent, and stops
 * after a failed background handshake, so an idle app or a broken ingress costs nothing.
 *
 * It adapts to the connection rate: it aims at the most dials seen at once within the idle
 * window (at least `size`, at most `maxSize`), refilling up to REFILL_PARALLEL at a time, so a page
 * that opens 20 connections at once finds most of them ready the next time. When dials stop, the
 * extra connections close after the idle window and the newest one lingers (`lingerMs`, TCP
 * keepalive on) so the first connection after a quiet minute is still one round trip away. Every
 * connection it opens is one a dial would otherwise have opened, except those that expire unused:
 * at most `maxSize` per idle window.
 */
import { performance } from 'node:perf_hooks';
import type { SecureContext, TLSSocket } from 'node:tls';

export const DEFAULT_WARM_CONNECTIONS = 2;
export const DEFAULT_WARM_IDLE_MS = 30_000;
/** The most warm connections kept, however bursty the dials (well under ngrok's per-minute limits). */
export const DEFAULT_WARM_MAX = 32;
/** How long the last warm connection outlives the idle window. */
export const DEFAULT_WARM_LINGER_MS = 5 * 60_000;
/** Background handshakes at once. */
const REFILL_PARALLEL = 4;

const WARM_DROPPED = 'the dialer dropped its warm connections';

export interface WarmPoolOptions {
  /** Connections kept ready at least (while dials are recent); 0 turns the pool off. */
  size: number;
  /** The most kept when dials come in bursts; default max(size, DEFAULT_WARM_MAX). */
  maxSize?: number;
  /** How long the newest warm connection stays after the idle window; default DEFAULT_WARM_LINGER_MS. */
  lingerMs?: number;
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
  /** performance.now() after which it is not handed out. */
  expiresAt: number;
  /** Detach the pool's listeners and expiry timer. */
  release(): void;
}

export class WarmPool {
  readonly #options: WarmPoolOptions;
  /** Newest last. */
  #warm: WarmConnection[] = [];
  /** Background handshakes in flight (up to REFILL_PARALLEL), to abort when the pool is dropped. */
  readonly #warming = new Set<AbortController>();
  /** The most dials at once in each whole second (performance.now() / 1000) of the idle window. */
  readonly #peakPerSecond = new Map<number, number>();
  #inFlight = 0;
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

  /**
   * A dial started at `at` (performance.now()): refilling is wanted again. Call dialEnded() when it
   * is done: how many run at once is what the pool adapts to.
   */
  dialed(at: number): void {
    this.#lastDialAt = at;
    this.#refillBlocked = false;
    this.#inFlight++;
    const second = Math.floor(at / 1000);
    this.#peakPerSecond.set(second, Math.max(this.#peakPerSecond.get(second) ?? 0, this.#inFlight));
    const oldest = second - Math.ceil(this.#options.idleMs / 1000);
    for (const s of this.#peakPerSecond.keys()) if (s < oldest) this.#peakPerSecond.delete(s);
  }

  dialEnded(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
  }

  /** How many to keep ready now: the most dials at once lately, within [size, maxSize]. */
  get target(): number {
    const { size } = this.#options;
    if (size === 0) return 0;
    const max = this.#options.maxSize ?? Math.max(size, DEFAULT_WARM_MAX);
    let peak = 0;
    for (const n of this.#peakPerSecond.values()) peak = Math.max(peak, n);
    return Math.min(max, Math.max(size, peak));
  }

  /** The newest healthy warm connection, or none; unhealthy ones met on the way are closed. */
  take(): TLSSocket | undefined {
    for (let entry = this.#warm.pop(); entry !== undefined; entry = this.#warm.pop()) {
      entry.release();
      const { socket } = entry;
      const healthy =
        entry.context === this.#options.context() &&
        performance.now() < entry.expiresAt &&
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
   * After a dial, handshake in the background (up to REFILL_PARALLEL at once) until the pool holds
   * its target, but only while dials are recent and no background handshake has failed since.
   */
  refill(): void {
    while (
      !this.#closed &&
      !this.#refillBlocked &&
      this.#warming.size < REFILL_PARALLEL &&
      this.#warm.length + this.#warming.size < this.target &&
      performance.now() - this.#lastDialAt < this.#options.idleMs
    )
      this.#warmOne();
  }

  #warmOne(): void {
    const warming = new AbortController();
    this.#warming.add(warming);
    const context = this.#options.context();
    const timer = setTimeout(() => warming.abort(new Error('timed out')), this.#options.timeoutMs).unref();
    this.#options.handshake(context, warming.signal).then(
      (socket) => {
        clearTimeout(timer);
        if (!this.#warming.delete(warming) || context !== this.#options.context() || this.#closed) {
          socket.destroy();
          return;
        }
        this.#park(socket, context);
        this.refill();
      },
      () => {
        // Never an error by itself: the next dial reports whatever is wrong.
        clearTimeout(timer);
        if (!this.#warming.delete(warming)) return;
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
    if (pending) {
      const warming = [...this.#warming];
      this.#warming.clear();
      for (const w of warming) w.abort(new Error(WARM_DROPPED));
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
    const now = performance.now();
    const lingerMs = this.#options.lingerMs ?? DEFAULT_WARM_LINGER_MS;
    // At the end of the idle window the last one left stays on for lingerMs; the others close.
    const expire = (): void => {
      const alive = this.#warm.filter((e) => !e.socket.destroyed);
      const last = alive.length === 1 && alive[0] === entry;
      const lingerUntil = entry.readyAt + this.#options.idleMs + lingerMs;
      if (last && lingerMs > 0 && performance.now() < lingerUntil) {
        entry.expiresAt = lingerUntil;
        expiry = setTimeout(() => socket.destroy(), lingerUntil - performance.now()).unref();
      } else {
        socket.destroy();
      }
    };
    let expiry = setTimeout(expire, this.#options.idleMs).unref();
    const entry: WarmConnection = {
      socket,
      context,
      readyAt: now,
      expiresAt: now + this.#options.idleMs,
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
