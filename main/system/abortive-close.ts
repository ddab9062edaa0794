/**
 * Abortive close (TCP RST) for plain and TLS sockets, and telling a peer's reset from its FIN.
 *
 * A truncated stream must never look complete, so when one side of a forwarded connection fails
 * the other is reset, not closed. Two things in Node get in the way:
 *
 * - `resetAndDestroy()` only exists for a socket whose handle is the TCP handle; on a TLSSocket it
 *   throws ERR_INVALID_HANDLE_TYPE (the handle is the TLSWrap that sits on the TCP handle).
 *   `destroy()` sends a bare FIN without close_notify, and a Go peer (crypto/tls accepts an EOF at a
 *   record boundary) or a Node peer reads that as a clean end. So `resetConnection` has the TLS
 *   layer close its TCP handle with `reset()` instead of `close()`.
 * - On Linux a reset from the peer often arrives as a clean 'end'. libuv's stream reader, when epoll
 *   reports POLLHUP (which a received RST sets) after a short read, reports EOF without the one
 *   more read() that would have returned ECONNRESET (uv__stream_io's POLLHUP short-circuit). TLS
 *   adds nothing to tell it apart: Node turns a TCP EOF into 'end' whether or not close_notify came
 *   first. The kernel still knows, so `endedByReset` asks it after 'end'.
 */
import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { errorCode } from '../common/errors.ts';

/** What is used of the libuv TCP handle (TCPWrap); absent when Node's internals change. */
interface TcpHandle {
  reset?: (onClosed: () => void) => number;
  close?: (onClosed: () => void) => void;
  getpeername?: (out: object) => number;
  fd?: number;
}

/** A socket's handle: the TCP handle itself, or a TLSWrap whose `_parent` is the TCP handle. */
interface SocketHandle extends TcpHandle {
  _parent?: TcpHandle;
}

function handleOf(socket: Socket): SocketHandle | null {
  return (socket as unknown as { _handle?: SocketHandle | null })._handle ?? null;
}

/** Whether a shutdown (our FIN) may still be queued: libuv refuses to reset then (EINVAL). */
function shutdownPending(socket: Socket): boolean {
  return socket.writableEnded && !socket.writableFinished;
}

/**
 * Close `socket` abortively: the peer gets a TCP RST (ECONNRESET), not a FIN, and bytes still
 * queued for it are dropped. Falls back to `destroy()` when a reset is impossible (a FIN is already
 * on its way, or the handle is not TCP).
 */
export function resetConnection(socket: Socket): void {
  if (socket.destroyed) return;
  if (shutdownPending(socket)) {
    socket.destroy();
    return;
  }
  if (!(socket instanceof TLSSocket)) {
    if (handleOf(socket)?.reset === undefined) socket.destroy();
    else socket.resetAndDestroy();
    return;
  }
  const tcp = handleOf(socket)?._parent;
  const reset = tcp?.reset;
  if (tcp !== undefined && typeof reset === 'function') {
    // The TLS layer's close() ends in the TCP handle's close(), directly or through the net.Socket
    // it wraps; for this one handle, close() resets instead. The callback (and so 'close') is kept.
    tcp.close = (onClosed) => void reset.call(tcp, onClosed);
  }
  socket.destroy();
}

const PROBE = Buffer.alloc(1);
const STILL_OPEN = new Set(['EAGAIN', 'EWOULDBLOCK']);

/**
 * Call on 'end': whether the peer reset the connection rather than closing it. A pending socket
 * error (ECONNRESET) shows in one read of the descriptor, which after 'end' has nothing left to
 * lose; a write may have taken that error already, but a reset connection is also no longer
 * connected, while after a FIN it stays half-open until our side ends too.
 */
export function endedByReset(socket: Socket): boolean {
  const handle = handleOf(socket);
  if (handle === null) return false;
  const fd = handle.fd;
  if (typeof fd === 'number' && fd >= 0) {
    try {
      readSync(fd, PROBE, 0, 1, null);
    } catch (err) {
      if (!STILL_OPEN.has(errorCode(err) ?? '')) return true;
    }
  }
  if (!socket.writableEnded && typeof handle.getpeername === 'function') return handle.getpeername({}) !== 0;
  return false;
}
