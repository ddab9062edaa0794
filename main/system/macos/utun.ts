/**
 * A macOS utun interface, created the way every VPN client does it, through koffi: a kernel-control
 * socket (PF_SYSTEM/SYSPROTO_CONTROL), CTLIOCGINFO to turn "com.apple.net.utun_control" into a
 * control id, connect() on a sockaddr_ctl (unit 0 = the next free utunN), then UTUN_OPT_IFNAME to
 * learn the name. The interface lives exactly as long as the socket: closing it, or the helper
 * dying, removes the interface with its addresses and routes, so a crash leaves nothing behind.
 *
 * Layouts follow <sys/kern_control.h>, <sys/sys_domain.h> and <net/if_utun.h>; macOS runs only on
 * little-endian CPUs. NOT VERIFIED ON macOS: the structures and constants are unit-tested on Linux.
 */
import koffi from 'koffi';
import { NgrokdError } from '../../common/errors.ts';
import { errnoName, libc } from '../libc.ts';

export const PF_SYSTEM = 32;
export const AF_SYSTEM = 32;
export const SOCK_DGRAM = 2;
export const SYSPROTO_CONTROL = 2;
export const AF_SYS_CONTROL = 2;
export const UTUN_OPT_IFNAME = 2;
export const UTUN_CONTROL_NAME = 'com.apple.net.utun_control';
const MAX_KCTL_NAME = 96;
export const IFNAMSIZ = 16;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** struct ctl_info { u_int32_t ctl_id; char ctl_name[MAX_KCTL_NAME]; } */
export const CTL_INFO = koffi.struct({ ctl_id: 'uint32_t', ctl_name: koffi.array('char', MAX_KCTL_NAME) });

/** struct sockaddr_ctl: sc_len, sc_family, ss_sysaddr, sc_id, sc_unit, sc_reserved[5]. */
export const SOCKADDR_CTL = koffi.struct({
  sc_len: 'uint8_t',
  sc_family: 'uint8_t',
  ss_sysaddr: 'uint16_t',
  sc_id: 'uint32_t',
  sc_unit: 'uint32_t',
  sc_reserved: koffi.array('uint32_t', 5),
});

const IOCPARM_MASK = 0x1fff;
const IOC_INOUT = 0xc0000000;

/** BSD _IOWR(group, num, size): the request number of an ioctl that reads and writes `size` bytes. */
export function iowr(group: string, num: number, size: number): number {
  return (IOC_INOUT | ((size & IOCPARM_MASK) << 16) | (group.charCodeAt(0) << 8) | num) >>> 0;
}

/** _IOWR('N', 3, struct ctl_info) = 0xc0644e03. */
export const CTLIOCGINFO = iowr('N', 3, koffi.sizeof(CTL_INFO));

/** A ctl_info asking for the id of the control named `name`. */
export function encodeCtlInfo(name: string): Buffer {
  if (Buffer.byteLength(name) >= MAX_KCTL_NAME || name.includes('\0')) {
    throw new Error(`kernel control name ${JSON.stringify(name)} does not fit ctl_name[${MAX_KCTL_NAME}]`);
  }
  const buffer = Buffer.alloc(koffi.sizeof(CTL_INFO));
  koffi.encode(buffer, CTL_INFO, { ctl_id: 0, ctl_name: name });
  return buffer;
}

export function decodeCtlId(buffer: Buffer): number {
  return (koffi.decode(buffer, CTL_INFO) as { ctl_id: number }).ctl_id;
}

/** The address of kernel control `ctlId`; unit N+1 asks for utunN, 0 for the next free one. */
export function encodeSockaddrCtl(ctlId: number, unit: number): Buffer {
  const size = koffi.sizeof(SOCKADDR_CTL);
  const buffer = Buffer.alloc(size);
  koffi.encode(buffer, SOCKADDR_CTL, {
    sc_len: size,
    sc_family: AF_SYSTEM,
    ss_sysaddr: AF_SYS_CONTROL,
    sc_id: ctlId,
    sc_unit: unit,
    sc_reserved: [0, 0, 0, 0, 0],
  });
  return buffer;
}

/** The NUL-terminated interface name UTUN_OPT_IFNAME wrote, checked to be a utun. */
export function decodeUtunName(buffer: Buffer, length: number): string {
  const bytes = buffer.subarray(0, Math.min(length, buffer.length));
  const end = bytes.indexOf(0);
  const name = bytes.subarray(0, end === -1 ? bytes.length : end).toString('latin1');
  if (!/^utun[0-9]{1,5}$/.test(name)) {
    throw new NgrokdError(
      'HELPER_ERROR',
      `could not create a utun interface: the kernel named it ${JSON.stringify(name)}`,
      'The helper falls back to loopback aliases on lo0.',
    );
  }
  return name;
}

/** The libc calls used; tests drive the sequence with a fake. Buffers are passed as pointers. */
export interface UtunLibc {
  socket(domain: number, type: number, protocol: number): number;
  ioctl(fd: number, request: number, arg: Buffer): number;
  fcntl(fd: number, command: number, arg: number): number;
  connect(fd: number, address: Buffer, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: Buffer): number;
  close(fd: number): number;
  errno(): number;
}

let systemLibc: UtunLibc | null = null;

/** The shared libc binding (libSystem here), in the shape the tests fake. */
function macLibc(): UtunLibc {
  if (systemLibc !== null) return systemLibc;
  const c = libc();
  systemLibc = {
    socket: c.socket,
    ioctl: (fd, request, arg) => c.ioctl(fd, request, 'void *', arg),
    fcntl: (fd, command, arg) => c.fcntl(fd, command, 'int', arg),
    connect: c.connect,
    getsockopt: c.getsockopt,
    close: c.close,
    errno: () => koffi.errno(),
  };
  return systemLibc;
}

export function utunError(operation: string, errno: number): NgrokdError {
  return new NgrokdError(
    'HELPER_ERROR',
    `could not create a utun interface: ${operation} failed (${errnoName(errno)})`,
    'The helper falls back to loopback aliases on lo0; if that is not wanted, check that the helper runs as root.',
  );
}

/** An open utun. The interface exists until close(). */
export class Utun {
  readonly name: string;
  readonly fd: number;
  readonly #libc: UtunLibc;
  #closed = false;

  constructor(name: string, fd: number, libc: UtunLibc) {
    this.name = name;
    this.fd = fd;
    this.#libc = libc;
  }

  /** Destroys the interface (and with it its addresses and routes). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#libc.close(this.fd);
  }
}

export interface OpenUtunOptions {
  /** Ask for utunN; by default the kernel picks the next free one. */
  unit?: number;
  libc?: UtunLibc;
}

/** Create a utun interface. Throws HELPER_ERROR naming the failing call; never leaks the socket. */
export function openUtun(options: OpenUtunOptions = {}): Utun {
  const c = options.libc ?? macLibc();
  const unit = options.unit === undefined ? 0 : options.unit + 1;
  if (!Number.isInteger(unit) || unit < 0 || unit > 0xffff) {
    throw new Error(`utun unit ${JSON.stringify(options.unit)} is out of range`);
  }
  const fd = c.socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
  if (fd < 0) throw utunError('socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL)', c.errno());
  try {
    // Not inherited by the ifconfig/route children the helper runs.
    if (c.fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) throw utunError('fcntl(F_SETFD, FD_CLOEXEC)', c.errno());
    const info = encodeCtlInfo(UTUN_CONTROL_NAME);
    if (c.ioctl(fd, CTLIOCGINFO, info) < 0) throw utunError('ioctl(CTLIOCGINFO)', c.errno());
    const address = encodeSockaddrCtl(decodeCtlId(info), unit);
    if (c.connect(fd, address, address.length) < 0) throw utunError('connect(sockaddr_ctl)', c.errno());
    const name = Buffer.alloc(IFNAMSIZ);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(IFNAMSIZ, 0);
    if (c.getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, name, length) < 0) {
      throw utunError('getsockopt(UTUN_OPT_IFNAME)', c.errno());
    }
    return new Utun(decodeUtunName(name, length.readUInt32LE(0)), fd, c);
  } catch (err) {
    c.close(fd);
    throw err;
  }
}
