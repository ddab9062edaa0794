/**
 * Passing file descriptors over a Unix socket (SCM_RIGHTS), which Node does not offer: the helper
 * sends the listening sockets it opened as root, the app's helper client receives them. The control
 * message layout (the CMSG_* macros) is computed from the platform's ABI table, so it is unit-tested
 * on any host.
 */
import type { Server, Socket } from 'node:net';
import koffi from 'koffi';
import { checkCall, iovec, libc, SIZEOF_INT, socketAbi, type SocketAbi } from './libc.ts';

function align(abi: SocketAbi, length: number): number {
  return Math.ceil(length / abi.cmsgAlign) * abi.cmsgAlign;
}

/** CMSG_LEN: header plus `dataBytes`, the value of cmsg_len. */
export function cmsgLen(abi: SocketAbi, dataBytes: number): number {
  return align(abi, koffi.sizeof(abi.cmsghdr)) + dataBytes;
}

/** CMSG_SPACE: what one control message occupies in the buffer. */
export function cmsgSpace(abi: SocketAbi, dataBytes: number): number {
  return align(abi, koffi.sizeof(abi.cmsghdr)) + align(abi, dataBytes);
}

/** The bytes of a control buffer carrying `fds` as one SCM_RIGHTS message. */
export function encodeRights(abi: SocketAbi, fds: readonly number[]): Buffer {
  const control = Buffer.alloc(cmsgSpace(abi, fds.length * SIZEOF_INT));
  koffi.encode(control, 0, abi.cmsghdr, {
    cmsg_len: cmsgLen(abi, fds.length * SIZEOF_INT),
    cmsg_level: abi.SOL_SOCKET,
    cmsg_type: abi.SCM_RIGHTS,
  });
  const dataOffset = cmsgLen(abi, 0);
  fds.forEach((fd, i) => control.writeInt32LE(fd, dataOffset + i * SIZEOF_INT));
  return control;
}

/** Every fd in every SCM_RIGHTS message of a received control buffer (CMSG_FIRSTHDR/NXTHDR). */
export function decodeRights(abi: SocketAbi, control: Uint8Array): number[] {
  const buffer = Buffer.from(control.buffer, control.byteOffset, control.byteLength);
  const headerBytes = koffi.sizeof(abi.cmsghdr);
  const fds: number[] = [];
  let offset = 0;
  while (offset + headerBytes <= buffer.length) {
    const header = koffi.decode(buffer.subarray(offset), abi.cmsghdr) as {
      cmsg_len: number;
      cmsg_level: number;
      cmsg_type: number;
    };
    const length = Number(header.cmsg_len);
    if (length < cmsgLen(abi, 0) || offset + length > buffer.length) break;
    if (header.cmsg_level === abi.SOL_SOCKET && header.cmsg_type === abi.SCM_RIGHTS) {
      const count = Math.floor((length - cmsgLen(abi, 0)) / SIZEOF_INT);
      for (let i = 0; i < count; i++) fds.push(buffer.readInt32LE(offset + cmsgLen(abi, 0) + i * SIZEOF_INT));
    }
    offset += align(abi, length);
  }
  return fds;
}

/** The OS file descriptor behind a Node socket or server (libuv keeps it on the handle). */
export function handleFd(owner: Socket | Server): number {
  const handle = (owner as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new Error('the socket has no file descriptor (closed, or not a Unix platform)');
  }
  return fd;
}

export function duplicateFd(fd: number): number {
  return checkCall('dup', libc().dup(fd));
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

/**
 * Send `data` with `passFd` attached as SCM_RIGHTS on a non-blocking socket. Returns the bytes sent
 * (the fd travels with the first of them); throws SocketCallError, code EAGAIN when the peer's
 * buffer is full and nothing was sent.
 */
export function sendWithFd(socketFd: number, data: Buffer, passFd: number): number {
  const abi = socketAbi();
  const control = encodeRights(abi, [passFd]);
  const memory = koffi.alloc('uint8_t', koffi.sizeof(iovec) + control.length + data.length) as bigint;
  try {
    const iovAt = memory;
    const controlAt = memory + BigInt(koffi.sizeof(iovec));
    const dataAt = controlAt + BigInt(control.length);
    koffi.encode(controlAt, koffi.array('uint8_t', control.length), control);
    koffi.encode(dataAt, koffi.array('uint8_t', data.length), data);
    koffi.encode(iovAt, iovec, { iov_base: dataAt, iov_len: data.length });
    const message = Buffer.alloc(koffi.sizeof(abi.msghdr));
    koffi.encode(message, 0, abi.msghdr, {
      msg_name: null,
      msg_namelen: 0,
      msg_iov: iovAt,
      msg_iovlen: 1,
      msg_control: controlAt,
      msg_controllen: control.length,
      msg_flags: 0,
    });
    return checkCall('sendmsg', libc().sendmsg(socketFd, message, abi.MSG_NOSIGNAL));
  } finally {
    koffi.free(memory);
  }
}
