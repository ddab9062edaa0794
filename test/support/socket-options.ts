/** Read a socket's TCP keepalive settings back from the kernel (Linux), to check what was set. */
import type { Socket } from 'node:net';
import { libc } from '../../main/system/libc.ts';

const SOL_SOCKET = 1;
const SO_KEEPALIVE = 9;
const IPPROTO_TCP = 6;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
const TCP_USER_TIMEOUT = 18;

export interface KeepaliveState {
  enabled: boolean;
  idleS: number;
  intervalS: number;
  count: number;
  userTimeoutMs: number;
}

function intOption(fd: number, level: number, name: number): number {
  const value = Buffer.alloc(4);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(4, 0);
  if (libc().getsockopt(fd, level, name, value, length) !== 0)
    throw new Error(`getsockopt ${level}/${name} failed`);
  return value.readInt32LE(0);
}

export function keepaliveState(socket: Socket): KeepaliveState {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no descriptor');
  return {
    enabled: intOption(fd, SOL_SOCKET, SO_KEEPALIVE) === 1,
    idleS: intOption(fd, IPPROTO_TCP, TCP_KEEPIDLE),
    intervalS: intOption(fd, IPPROTO_TCP, TCP_KEEPINTVL),
    count: intOption(fd, IPPROTO_TCP, TCP_KEEPCNT),
    userTimeoutMs: intOption(fd, IPPROTO_TCP, TCP_USER_TIMEOUT),
  };
}
