/**
 * The one libc binding (through koffi) for the syscalls Node does not expose: Unix-socket fd
 * passing, peer credentials, rtnetlink and macOS utun all call through it. Struct layouts and
 * constants are per platform (Linux and macOS differ) and plain data, so they are unit-tested on
 * any host; the library itself is only loaded on first use.
 */
import koffi, { type KoffiFunc, type TypeObject } from 'koffi';

export type SocketPlatform = 'linux' | 'darwin';

/** The C ABI facts for one platform. */
export interface SocketAbi {
  platform: SocketPlatform;
  libcPath: string;
  msghdr: TypeObject;
  cmsghdr: TypeObject;
  /** CMSG_ALIGN boundary: sizeof(size_t) on Linux, 4 on macOS. */
  cmsgAlign: number;
  /** Longest socket path sockaddr_un holds, without its NUL. */
  maxPathBytes: number;
  SOL_SOCKET: number;
  SCM_RIGHTS: number;
  /** No SIGPIPE (Linux flag; Node ignores SIGPIPE on macOS anyway). */
  MSG_NOSIGNAL: number;
  /** Received fds are close-on-exec (Linux flag; macOS sets FD_CLOEXEC afterwards). */
  MSG_CMSG_CLOEXEC: number;
  MSG_CTRUNC: number;
  /** socket() type flags (Linux); macOS uses fcntl. */
  SOCK_NONBLOCK: number;
  SOCK_CLOEXEC: number;
  F_SETFD: number;
  F_GETFL: number;
  F_SETFL: number;
  O_NONBLOCK: number;
}

/** struct iovec and struct pollfd: the same layout on every supported platform. */
export const iovec = koffi.struct({ iov_base: 'void *', iov_len: 'size_t' });
export const pollfd = koffi.struct({ fd: 'int', events: 'short', revents: 'short' });

export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const SIZEOF_INT = 4;

const LINUX: SocketAbi = {
  platform: 'linux',
  libcPath: 'libc.so.6',
  msghdr: koffi.struct({
    msg_name: 'void *',
    msg_namelen: 'uint32_t',
    msg_iov: 'void *',
    msg_iovlen: 'size_t',
    msg_control: 'void *',
    msg_controllen: 'size_t',
    msg_flags: 'int',
  }),
  cmsghdr: koffi.struct({ cmsg_len: 'size_t', cmsg_level: 'int', cmsg_type: 'int' }),
  cmsgAlign: 8,
  maxPathBytes: 107,
  SOL_SOCKET: 1,
  SCM_RIGHTS: 1,
  MSG_NOSIGNAL: 0x4000,
  MSG_CMSG_CLOEXEC: 0x40000000,
  MSG_CTRUNC: 0x8,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  F_SETFD: 2,
  F_GETFL: 3,
  F_SETFL: 4,
  O_NONBLOCK: 0o4000,
};

const DARWIN: SocketAbi = {
  platform: 'darwin',
  libcPath: '/usr/lib/libSystem.B.dylib',
  msghdr: koffi.struct({
    msg_name: 'void *',
    msg_namelen: 'uint32_t',
    msg_iov: 'void *',
    msg_iovlen: 'int',
    msg_control: 'void *',
    msg_controllen: 'uint32_t',
    msg_flags: 'int',
  }),
  cmsghdr: koffi.struct({ cmsg_len: 'uint32_t', cmsg_level: 'int', cmsg_type: 'int' }),
  cmsgAlign: 4,
  maxPathBytes: 103,
  SOL_SOCKET: 0xffff,
  SCM_RIGHTS: 1,
  MSG_NOSIGNAL: 0,
  MSG_CMSG_CLOEXEC: 0,
  MSG_CTRUNC: 0x20,
  SOCK_NONBLOCK: 0,
  SOCK_CLOEXEC: 0,
  F_SETFD: 2,
  F_GETFL: 3,
  F_SETFL: 4,
  O_NONBLOCK: 0x4,
};

export function socketAbi(platform: NodeJS.Platform = process.platform): SocketAbi {
  if (platform === 'linux') return LINUX;
  if (platform === 'darwin') return DARWIN;
  throw new Error(`Unix socket fd passing is not implemented on ${platform}`);
}

let errnoNames: Map<number, string> | null = null;

/** The symbolic name of an errno value (EEXIST), the one people search for. */
export function errnoName(errno: number): string {
  errnoNames ??= new Map(Object.entries(koffi.os.errno).map(([name, value]) => [value, name]));
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** A failed libc call, shaped like Node's errors (code, errno, syscall). */
export class SocketCallError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;

  constructor(syscall: string, errno: number) {
    const code = errnoName(errno);
    super(`${syscall} failed: ${code}`);
    this.name = 'SocketCallError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** `result`, unless it is negative: then a SocketCallError carrying errno. */
export function checkCall(syscall: string, result: number): number {
  if (result < 0) throw new SocketCallError(syscall, koffi.errno());
  return result;
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, address: Buffer, length: number): number;
  connect(fd: number, address: Buffer, length: number): number;
  send(fd: number, data: Buffer, length: number, flags: number): number;
  sendto(
    fd: number,
    data: Buffer,
    length: number,
    flags: number,
    address: Buffer,
    addressLength: number,
  ): number;
  sendmsg(fd: number, message: bigint | Buffer, flags: number): number;
  recv(fd: number, data: Buffer, length: number, flags: number): number;
  recvmsg(fd: number, message: bigint, flags: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: Buffer): number;
  poll: KoffiFunc<(fds: bigint | Buffer, count: number, timeoutMs: number) => number>;
  /** Variadic in C: the argument's type is passed before it. */
  ioctl(fd: number, request: number, type: 'void *', arg: Buffer): number;
  /** Variadic in C: the argument's type is passed before it. */
  fcntl(fd: number, command: number, type: 'int', value: number): number;
  dup(fd: number): number;
  close(fd: number): number;
  strerror(errno: number): string;
}

let loaded: Libc | null = null;

/** Bound on first use, so the layouts and encoders that use the tables above work on any host. */
export function libc(): Libc {
  if (loaded !== null) return loaded;
  const abi = socketAbi();
  const lib = koffi.load(abi.libcPath);
  const nfds = abi.platform === 'darwin' ? 'unsigned int' : 'unsigned long';
  loaded = {
    socket: lib.func('int socket(int, int, int)'),
    bind: lib.func('int bind(int, const void *, uint32_t)'),
    connect: lib.func('int connect(int, const void *, uint32_t)'),
    send: lib.func('intptr_t send(int, const void *, size_t, int)'),
    sendto: lib.func('intptr_t sendto(int, const void *, size_t, int, const void *, uint32_t)'),
    sendmsg: lib.func('intptr_t sendmsg(int, const void *, int)'),
    recv: lib.func('intptr_t recv(int, void *, size_t, int)'),
    recvmsg: lib.func('intptr_t recvmsg(int, void *, int)'),
    setsockopt: lib.func('int setsockopt(int, int, int, const void *, uint32_t)'),
    getsockopt: lib.func('int getsockopt(int, int, int, void *, void *)'),
    poll: lib.func(`int poll(void *, ${nfds}, int)`) as Libc['poll'],
    // Declared variadic so arm64's stack-passing convention for variadic arguments is honoured.
    ioctl: lib.func('int ioctl(int, unsigned long, ...)'),
    fcntl: lib.func('int fcntl(int, int, ...)'),
    dup: lib.func('int dup(int)'),
    close: lib.func('int close(int)'),
    strerror: lib.func('const char *strerror(int)'),
  };
  return loaded;
}
