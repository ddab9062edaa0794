/**
 * TCP keepalive with short timers, so a connection whose path died (the laptop slept, changed
 * Wi-Fi, lost its VPN) fails within seconds instead of hanging for the kernel's defaults (2 hours
 * of idle before the first probe; ~15 minutes of retransmissions when data is outstanding).
 *
 * Node sets SO_KEEPALIVE and the idle time (`setKeepAlive(true, idle)`); the probe interval, the
 * probe count and the bound on unacknowledged data (TCP_USER_TIMEOUT on Linux,
 * TCP_RXT_CONNDROPTIME on macOS) are set here on the socket's descriptor. Those are best effort: a
 * socket without a descriptor (a test double) or a kernel refusing an option keeps Node's part.
 */
import type { Socket } from 'node:net';
import { libc } from './libc.ts';

export interface KeepaliveTimers {
  /** Silence before the first probe. */
  idleMs: number;
  /** Between probes. */
  intervalMs: number;
  /** Unanswered probes before the connection is dropped (ETIMEDOUT). */
  count: number;
}

/** A dead path is noticed within idle + interval × count = 30 s. */
export const DEFAULT_KEEPALIVE: Readonly<KeepaliveTimers> = { idleMs: 15_000, intervalMs: 5_000, count: 3 };

const IPPROTO_TCP = 6;

/** Option numbers per platform; the unacknowledged-data bound is in ms on Linux, seconds on macOS. */
const OPTIONS = {
  linux: { KEEPINTVL: 5, KEEPCNT: 6, USER_TIMEOUT: 18, userTimeoutUnitMs: 1 },
  darwin: { KEEPINTVL: 0x101, KEEPCNT: 0x102, USER_TIMEOUT: 0x80, userTimeoutUnitMs: 1000 },
} as const;

/** How long a dead path takes to notice with `timers`. */
export function keepaliveDeadlineMs(timers: KeepaliveTimers): number {
  return timers.idleMs + timers.intervalMs * timers.count;
}

/** The descriptor behind a connected socket (TLS sockets expose the TCP one), or -1. */
function descriptorOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/**
 * Apply `timers` to a connected socket (call it on 'connect'). Returns which options beyond Node's
 * took effect, for tests and logs.
 */
export function applyKeepalive(socket: Socket, timers: KeepaliveTimers): { extended: boolean } {
  socket.setKeepAlive(true, timers.idleMs);
  const options =
    process.platform === 'linux' || process.platform === 'darwin' ? OPTIONS[process.platform] : null;
  const fd = descriptorOf(socket);
  if (options === null || fd < 0) return { extended: false };
  const c = libc();
  const set = (name: number, value: number): boolean => {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32LE(Math.max(1, Math.round(value)), 0);
    return c.setsockopt(fd, IPPROTO_TCP, name, buffer, 4) === 0;
  };
  const extended =
    set(options.KEEPINTVL, timers.intervalMs / 1000) &&
    set(options.KEEPCNT, timers.count) &&
    set(options.USER_TIMEOUT, keepaliveDeadlineMs(timers) / options.userTimeoutUnitMs);
  return { extended };
}
