/**
 * The client end of a Unix stream socket that can receive file descriptors: the app's side of the
 * helper protocol. Node's net.Socket reads with read(), which silently drops ancillary data, so this
 * does its own non-blocking I/O on a socket it creates, waiting for readiness with poll() on a koffi
 * worker thread so the event loop never blocks.
 */
import koffi from 'koffi';
import { closeFd, cmsgSpace, decodeRights } from './fd-passing.ts';
import {
  checkCall,
  iovec,
  libc,
  pollfd,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  SIZEOF_INT,
  SocketCallError,
  socketAbi,
  type SocketAbi,
} from './libc.ts';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const FD_CLOEXEC = 1;
/** Enough for one reply frame chunk; longer frames simply take several reads. */
const RECEIVE_BYTES = 64 * 1024;
/** Fds accepted in one read; the protocol sends at most one per reply. */
const MAX_FDS_PER_READ = 8;

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
    const fd = checkCall('socket', c.socket(AF_UNIX, SOCK_STREAM | abi.SOCK_NONBLOCK | abi.SOCK_CLOEXEC, 0));
    try {
      if (abi.platform === 'darwin') {
        checkCall('fcntl', c.fcntl(fd, abi.F_SETFD, 'int', FD_CLOEXEC));
        const flags = checkCall('fcntl', c.fcntl(fd, abi.F_GETFL, 'int', 0));
        checkCall('fcntl', c.fcntl(fd, abi.F_SETFL, 'int', flags | abi.O_NONBLOCK));
      }
      checkCall('connect', c.connect(fd, address, address.length));
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
