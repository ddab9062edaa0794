/** How a test client saw its connection end: a clean FIN, or the error the kernel reports. */
import { readSync } from 'node:fs';
import type { Socket } from 'node:net';

/**
 * How the kernel ended a socket's read side: 'fin', or the error a read() returned (ECONNRESET).
 * Node on Linux often reports a reset as a clean 'end' (libuv skips the read that would fail), so
 * on 'end' the descriptor is read once more, which gives the kernel's answer.
 */
export function readEnd(socket: Socket): Promise<{ end: string; received: number }> {
  return new Promise((resolve) => {
    let received = 0;
    let end: string | null = null;
    socket.on('data', (c: Buffer) => (received += c.length));
    socket.on('error', (err: NodeJS.ErrnoException) => (end ??= err.code ?? err.message));
    socket.on('end', () => {
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
      try {
        readSync(fd, Buffer.alloc(1), 0, 1, null);
        end ??= 'fin';
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        end ??= code === 'EAGAIN' ? 'fin' : (code ?? 'error');
      }
      socket.end();
    });
    socket.on('close', () => resolve({ end: end ?? 'closed', received }));
  });
}
