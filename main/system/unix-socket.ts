/**
 * Unix-socket calls Node does not offer, through koffi: passing a file descriptor (SCM_RIGHTS) and
 * receiving one. Node's net.Socket reads with read(), which silently drops ancillary data, so the
 * receiving side (the app's helper client) does its own non-blocking I/O on a socket it created
 * here, waiting for readiness with poll() on a koffi worker thread so the event loop never blocks.
 * The struct layouts are per platform (Linux and macOS differ) and are unit-tested on any host.
 */
import type { Server, Socket } from 'node:net';
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

const iovec = koffi.struct({ iov_base: 'void *', iov_len: 'size_t' });
const pollfd = koffi.struct({ fd: 'int', events: 'short', revents: 'short' });

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

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const FD_CLOEXEC = 1;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
const SIZEOF_INT = 4;
/** Enough for one reply frame chunk; longer frames simply take several reads. */
const RECEIVE_BYTES = 64 * 1024;
/** Fds accepted in one read; the protocol sends at most one per reply. */
const MAX_FDS_PER_READ = 8;

export function socketAbi(platform: NodeJS.Platform = process.platform): SocketAbi {
  if (platform === 'linux') return LINUX;
  if (platform === 'darwin') return DARWIN;
  throw new Error(`Unix socket fd passing is not implemented on ${platform}`);
}

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

/** sockaddr_un for `path` and the length to pass with it. */
export function sockaddrUn(abi: SocketAbi, path: string): Buffer {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length === 0 || bytes.length > abi.maxPathBytes || bytes.includes(0)) {
    throw Object.assign(
      new Error(`socket path ${JSON.stringify(path)} must be 1 to ${abi.maxPathBytes} bytes without NUL`),
      { code: 'ENAMETOOLONG' },
    );
  }
  const address = Buffer.alloc(2 + bytes.length + 1);
  if (abi.platform === 'darwin') {
    address.writeUInt8(address.length, 0);
    address.writeUInt8(AF_UNIX, 1);
  } else {
    address.writeUInt16LE(AF_UNIX, 0);
  }
  bytes.copy(address, 2);
  return address;
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

let errnoNames: Map<number, string> | null = null;

function errnoName(errno: number): string {
  errnoNames ??= new Map(Object.entries(koffi.os.errno).map(([name, value]) => [value, name]));
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, address: Buffer, length: number): number;
  sendmsg(fd: number, message: bigint | Buffer, flags: number): number;
  recvmsg(fd: number, message: bigint, flags: number): number;
  send(fd: number, data: Buffer, length: number, flags: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: Buffer): number;
  poll: KoffiFunc<(fds: bigint | Buffer, count: number, timeoutMs: number) => number>;
  dup(fd: number): number;
  close(fd: number): number;
  fcntl(fd: number, command: number, type: 'int', value: number): number;
}

let loaded: Libc | null = null;

/** Bound on first use, so the layout code above works on any host. */
export function libc(): Libc {
  if (loaded !== null) return loaded;
  const abi = socketAbi();
  const lib = koffi.load(abi.libcPath);
  const nfds = abi.platform === 'darwin' ? 'unsigned int' : 'unsigned long';
  loaded = {
    socket: lib.func('int socket(int, int, int)'),
    connect: lib.func('int connect(int, const void *, uint32_t)'),
    sendmsg: lib.func('intptr_t sendmsg(int, const void *, int)'),
    recvmsg: lib.func('intptr_t recvmsg(int, void *, int)'),
    send: lib.func('intptr_t send(int, const void *, size_t, int)'),
    getsockopt: lib.func('int getsockopt(int, int, int, void *, void *)'),
    poll: lib.func(`int poll(void *, ${nfds}, int)`) as Libc['poll'],
    dup: lib.func('int dup(int)'),
    close: lib.func('int close(int)'),
    fcntl: lib.func('int fcntl(int, int, ...)'),
  };
  return loaded;
}

function check(syscall: string, result: number): number {
  if (result < 0) throw new SocketCallError(syscall, koffi.errno());
  return result;
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
  return check('dup', libc().dup(fd));
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
    return check('sendmsg', libc().sendmsg(socketFd, message, abi.MSG_NOSIGNAL));
  } finally {
    koffi.free(memory);
  }
}

/** Bytes and any fds one read returned; `data.length === 0` means the peer closed. */
export interface Received {
  data: Buffer;
  fds: number[];
}

/**
 * The client end of a Unix stream socket, non-blocking, with fd reception. Reads and writes never
 * block the event loop; waiting for readiness runs poll() on a koffi worker thread, at most
 * `sliceMs` at a time so close() is never held up for long.
 */
export class UnixStreamClient {
  readonly path: string;
  readonly #fd: number;
  readonly #abi: SocketAbi;
  /** recvmsg's native memory: msghdr, iovec, data, control; stable while a call is running. */
  readonly #memory: bigint;
  readonly #at: { msghdr: bigint; iovec: bigint; data: bigint; control: bigint };
  readonly #controlBytes: number;
  /** poll()'s pollfd: native memory because the call runs on another thread. */
  readonly #pollMemory: bigint;
  #waiting: Promise<unknown> | null = null;
  #closed = false;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
    this.#abi = socketAbi();
    this.#controlBytes = cmsgSpace(this.#abi, MAX_FDS_PER_READ * SIZEOF_INT);
    const msghdrBytes = koffi.sizeof(this.#abi.msghdr);
    const iovecBytes = koffi.sizeof(iovec);
    this.#memory = koffi.alloc(
      'uint8_t',
      msghdrBytes + iovecBytes + this.#controlBytes + RECEIVE_BYTES,
    ) as bigint;
    const base = this.#memory;
    const iovecAt = base + BigInt(msghdrBytes);
    const controlAt = iovecAt + BigInt(iovecBytes);
    this.#at = {
      msghdr: base,
      iovec: iovecAt,
      control: controlAt,
      data: controlAt + BigInt(this.#controlBytes),
    };
    koffi.encode(this.#at.iovec, iovec, { iov_base: this.#at.data, iov_len: RECEIVE_BYTES });
    this.#pollMemory = koffi.alloc(pollfd, 1) as bigint;
  }

  /** Connect without blocking; throws SocketCallError (ENOENT, ECONNREFUSED, EACCES, EAGAIN…). */
  static connect(path: string): UnixStreamClient {
    const abi = socketAbi();
    const c = libc();
    const address = sockaddrUn(abi, path);
    const fd = check('socket', c.socket(AF_UNIX, SOCK_STREAM | abi.SOCK_NONBLOCK | abi.SOCK_CLOEXEC, 0));
    try {
      if (abi.platform === 'darwin') {
        check('fcntl', c.fcntl(fd, abi.F_SETFD, 'int', FD_CLOEXEC));
        const flags = check('fcntl', c.fcntl(fd, abi.F_GETFL, 'int', 0));
        check('fcntl', c.fcntl(fd, abi.F_SETFL, 'int', flags | abi.O_NONBLOCK));
      }
      check('connect', c.connect(fd, address, address.length));
    } catch (err) {
      c.close(fd);
      throw err;
    }
    return new UnixStreamClient(path, fd);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Write all of `data`, waiting while the socket buffer is full. */
  async write(data: Buffer, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let offset = 0;
    while (offset < data.length) {
      this.#assertOpen();
      const rest = data.subarray(offset);
      const sent = libc().send(this.#fd, rest, rest.length, this.#abi.MSG_NOSIGNAL);
      if (sent >= 0) {
        offset += sent;
        continue;
      }
      const error = new SocketCallError('send', koffi.errno());
      if (error.code !== 'EAGAIN' && error.code !== 'EWOULDBLOCK' && error.code !== 'EINTR') throw error;
      const left = deadline - Date.now();
      if (left <= 0) throw new SocketCallError('send', koffi.os.errno.ETIMEDOUT ?? 110);
      await this.wait(POLLOUT, left);
    }
  }

  /** One non-blocking read: null when nothing is available yet. */
  read(): Received | null {
    this.#assertOpen();
    const abi = this.#abi;
    koffi.encode(this.#at.msghdr, abi.msghdr, {
      msg_name: null,
      msg_namelen: 0,
      msg_iov: this.#at.iovec,
      msg_iovlen: 1,
      msg_control: this.#at.control,
      msg_controllen: this.#controlBytes,
      msg_flags: 0,
    });
    const count = libc().recvmsg(this.#fd, this.#at.msghdr, abi.MSG_CMSG_CLOEXEC);
    if (count < 0) {
      const error = new SocketCallError('recvmsg', koffi.errno());
      if (error.code === 'EAGAIN' || error.code === 'EWOULDBLOCK' || error.code === 'EINTR') return null;
      throw error;
    }
    const header = koffi.decode(this.#at.msghdr, abi.msghdr) as {
      msg_controllen: number | bigint;
      msg_flags: number;
    };
    const controlLength = Number(header.msg_controllen);
    const fds =
      controlLength > 0
        ? decodeRights(abi, koffi.decode(this.#at.control, 'uint8_t', controlLength) as Uint8Array)
        : [];
    if (abi.platform === 'darwin') for (const fd of fds) libc().fcntl(fd, abi.F_SETFD, 'int', FD_CLOEXEC);
    if ((header.msg_flags & abi.MSG_CTRUNC) !== 0) {
      for (const fd of fds) closeFd(fd);
      throw new Error('recvmsg: control data truncated (too many file descriptors passed)');
    }
    const data =
      count > 0 ? Buffer.from(koffi.decode(this.#at.data, 'uint8_t', count) as Uint8Array) : Buffer.alloc(0);
    return { data, fds };
  }

  /** Wait up to `timeoutMs` for `events` (POLLIN/POLLOUT) without blocking the event loop. */
  async wait(events: number, timeoutMs: number, sliceMs = 200): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.#assertOpen();
      const slice = Math.max(0, Math.min(sliceMs, deadline - Date.now()));
      koffi.encode(this.#pollMemory, pollfd, { fd: this.#fd, events, revents: 0 });
      const call = new Promise<number>((resolve, reject) => {
        libc().poll.async(this.#pollMemory, 1, slice, (err: unknown, ready: number) =>
          err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(ready),
        );
      });
      this.#waiting = call;
      let ready: number;
      try {
        ready = await call;
      } finally {
        this.#waiting = null;
        if (this.#closed) this.#release();
      }
      this.#assertOpen();
      if (ready > 0) return true;
      if (Date.now() >= deadline) return false;
    }
  }

  /** Whether the peer has closed or sent something unasked (checked when idle; never blocks). */
  peerGone(): boolean {
    if (this.#closed) return true;
    const entry = Buffer.alloc(koffi.sizeof(pollfd));
    koffi.encode(entry, 0, pollfd, { fd: this.#fd, events: POLLIN, revents: 0 });
    if (libc().poll(entry, 1, 0) <= 0) return false;
    const { revents } = koffi.decode(entry, pollfd) as { revents: number };
    return (revents & (POLLIN | POLLHUP | POLLERR)) !== 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A poll() still running on a worker thread must not see the fd number reused.
    if (this.#waiting === null) this.#release();
  }

  #release(): void {
    libc().close(this.#fd);
    koffi.free(this.#memory);
    koffi.free(this.#pollMemory);
  }

  #assertOpen(): void {
    if (this.#closed) throw new SocketCallError('read', koffi.os.errno.EBADF ?? 9);
  }
}
