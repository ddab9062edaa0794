/**
 * One connection's requests, served one at a time with bounded memory, for the servers that face
 * local clients (the privileged helper's socket and the daemon's control socket). A peer that
 * writes requests and never reads the replies must not make the server buffer without end:
 *  - the socket is paused while a request is handled, so the kernel's buffer fills and the peer's
 *    writes block instead of ours growing;
 *  - after each reply, while more than `maxUnreadBytes` of replies are waiting for the peer to read
 *    them, nothing else is handled;
 *  - a read that carries more than `maxPending` requests at once (pipelining far past anything a
 *    real client does) ends the connection through `onOverflow`.
 */
import type { Socket } from 'node:net';

export interface PumpLimits {
  maxPending: number;
  maxUnreadBytes: number;
}

/** Defaults for both servers: a few requests in flight, a few replies unread. */
export const DEFAULT_PUMP_LIMITS: PumpLimits = { maxPending: 4096, maxUnreadBytes: 256 * 1024 };

/** Resolves once the socket's queued writes drained below its high-water mark, or it closed. */
export function writable(socket: Socket): Promise<void> {
  if (socket.destroyed || !socket.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** True when the peer has left more than `limit` bytes of what we wrote unread. */
export function backlogged(socket: Socket, limit: number = DEFAULT_PUMP_LIMITS.maxUnreadBytes): boolean {
  return socket.writableLength > limit;
}

export class RequestPump<T> {
  readonly #socket: Socket;
  readonly #handle: (request: T) => Promise<void>;
  readonly #limits: PumpLimits;
  readonly #onOverflow: (pending: number) => void;
  #queue: T[] = [];
  #busy = false;

  constructor(options: {
    socket: Socket;
    /** Handles one request, writing its reply; a rejection closes the connection. */
    handle: (request: T) => Promise<void>;
    onOverflow: (pending: number) => void;
    limits?: PumpLimits;
  }) {
    this.#socket = options.socket;
    this.#handle = options.handle;
    this.#onOverflow = options.onOverflow;
    this.#limits = options.limits ?? DEFAULT_PUMP_LIMITS;
  }

  push(requests: readonly T[]): void {
    if (requests.length === 0) return;
    this.#queue.push(...requests);
    if (this.#queue.length > this.#limits.maxPending) {
      const pending = this.#queue.length;
      this.#queue = [];
      this.#onOverflow(pending);
      return;
    }
    void this.#run();
  }

  /** Drop what is queued (the connection is being closed). */
  clear(): void {
    this.#queue = [];
  }

  async #run(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    const socket = this.#socket;
    // Below the high-water mark no 'drain' would ever come.
    const limit = Math.max(this.#limits.maxUnreadBytes, socket.writableHighWaterMark);
    socket.pause();
    try {
      for (let request = this.#queue.shift(); request !== undefined; request = this.#queue.shift()) {
        if (socket.destroyed) return;
        await this.#handle(request);
        while (!socket.destroyed && backlogged(socket, limit)) await writable(socket);
      }
    } catch {
      this.#queue = [];
      socket.destroy();
    } finally {
      this.#busy = false;
      if (!socket.destroyed) socket.resume();
    }
  }
}
