/**
 * A raw rtnetlink socket (AF_NETLINK / NETLINK_ROUTE) driven through koffi, plus the byte-level
 * builders and parsers for the few messages the helper needs (links, IPv4 addresses, routes).
 * Talking to the kernel directly instead of running `ip` once per address is what lets thousands
 * of addresses be converged in one batch: many requests per sendto(), one ACK each.
 *
 * Layout follows <linux/netlink.h> and <linux/rtnetlink.h>; everything is host (little) endian
 * except IPv4 addresses, which are in network order. Linux on 64-bit little-endian CPUs only.
 */
import koffi from 'koffi';
import { intToIp, ipToInt } from '../../common/subnet.ts';
import { errnoName, libc } from '../libc.ts';

// Message types and flags.
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
/** On an NLMSG_ERROR: the echoed request was cut to its header / extended-ACK attributes follow. */
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

// Attributes.
const IFLA_IFNAME = 3;
export const IFLA_LINKINFO = 18;
export const IFLA_INFO_KIND = 1;
export const IFLA_IFALIAS = 20;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const RTA_DST = 1;
export const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
const NLA_TYPE_MASK = 0x3fff;

// Linux errno values the callers tell apart.
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
const EINTR = 4;
const EAGAIN = 11;
export const EEXIST = 17;
const EINVAL = 22;
export const ENODEV = 19;
export const EOPNOTSUPP = 95;
export const EADDRNOTAVAIL = 99;

const AF_UNSPEC = 0;
export const AF_INET = 2;
export const IFF_UP = 0x1;
export const RT_TABLE_LOCAL = 255;
const NLM_F_REPLACE = 0x100;
const RTPROT_STATIC = 4;
const RT_SCOPE_HOST = 254;
/** Route types (rtm_type). */
export const RTN_LOCAL = 2;

const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const RTMSG_LEN = 12;

const align4 = (n: number): number => (n + 3) & ~3;

/** A request without its nlmsghdr: the socket stamps length, sequence number and port id. */
export interface NetlinkRequest {
  type: number;
  flags: number;
  body: Buffer;
}

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the 16-byte header. */
  body: Buffer;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function encodedLength(request: NetlinkRequest): number {
  return NLMSG_HDRLEN + align4(request.body.length);
}

/** Write the complete message at `offset` of `out` (or into a new buffer); returns the bytes written. */
export function encodeMessage(request: NetlinkRequest, seq: number, out?: Buffer, offset = 0): Buffer {
  const length = encodedLength(request);
  const target = out ?? Buffer.alloc(length);
  target.fill(0, offset, offset + length);
  target.writeUInt32LE(NLMSG_HDRLEN + request.body.length, offset);
  target.writeUInt16LE(request.type, offset + 4);
  target.writeUInt16LE(request.flags, offset + 6);
  target.writeUInt32LE(seq >>> 0, offset + 8);
  target.writeUInt32LE(0, offset + 12);
  request.body.copy(target, offset + NLMSG_HDRLEN);
  return target.subarray(offset, offset + length);
}

/** One rtattr, padded to 4 bytes. */
export function attribute(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(align4(4 + value.length));
  out.writeUInt16LE(4 + value.length, 0);
  out.writeUInt16LE(type, 2);
  value.copy(out, 4);
  return out;
}

function stringAttribute(type: number, value: string): Buffer {
  return attribute(type, Buffer.from(`${value}\0`, 'utf8'));
}

function ipv4Attribute(type: number, ip: string): Buffer {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(ipToInt(ip), 0);
  return attribute(type, value);
}

function ifinfomsg(family: number, index: number, flags: number, change: number): Buffer {
  const out = Buffer.alloc(IFINFOMSG_LEN);
  out.writeUInt8(family, 0);
  out.writeInt32LE(index, 4);
  out.writeUInt32LE(flags, 8);
  out.writeUInt32LE(change, 12);
  return out;
}

function ifaddrmsg(prefix: number, index: number): Buffer {
  const out = Buffer.alloc(IFADDRMSG_LEN);
  out.writeUInt8(AF_INET, 0);
  out.writeUInt8(prefix, 1);
  out.writeUInt32LE(index, 4);
  return out;
}

/** RTM_NEWLINK creating `name` of `kind` (dummy, bridge…); the kernel ignores IFLA_IFALIAS here. */
export function createLinkRequest(link: { name: string; kind: string }): NetlinkRequest {
  return {
    type: RTM_NEWLINK,
    flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    body: Buffer.concat([
      ifinfomsg(AF_UNSPEC, 0, 0, 0),
      stringAttribute(IFLA_IFNAME, link.name),
      attribute(IFLA_LINKINFO, stringAttribute(IFLA_INFO_KIND, link.kind)),
    ]),
  };
}

/**
 * RTM_NEWLINK on the existing link called `name`: set it UP and set its alias. Addressed by name so
 * it can follow createLinkRequest in the same datagram, before the index is known.
 */
export function setLinkRequest(name: string, alias: string): NetlinkRequest {
  return {
    type: RTM_NEWLINK,
    flags: NLM_F_REQUEST | NLM_F_ACK,
    body: Buffer.concat([
      ifinfomsg(AF_UNSPEC, 0, IFF_UP, IFF_UP),
      stringAttribute(IFLA_IFNAME, name),
      stringAttribute(IFLA_IFALIAS, alias),
    ]),
  };
}

export function deleteLinkRequest(index: number): NetlinkRequest {
  return { type: RTM_DELLINK, flags: NLM_F_REQUEST | NLM_F_ACK, body: ifinfomsg(AF_UNSPEC, index, 0, 0) };
}

/** RTM_NEWADDR / RTM_DELADDR for `ip/prefix` on link `index`. Adds are exclusive: EEXIST means already there. */
export function addressRequest(
  type: typeof RTM_NEWADDR | typeof RTM_DELADDR,
  address: { index: number; ip: string; prefix: number },
): NetlinkRequest {
  const flags =
    type === RTM_NEWADDR ? NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL : NLM_F_REQUEST | NLM_F_ACK;
  return {
    type,
    flags,
    body: Buffer.concat([
      ifaddrmsg(address.prefix, address.index),
      ipv4Attribute(IFA_LOCAL, address.ip),
      ipv4Attribute(IFA_ADDRESS, address.ip),
    ]),
  };
}

/**
 * RTM_NEWROUTE for `local <network>/<prefix> dev <index> table local`: every address of the range
 * is this machine's, so a connection to one nothing listens on is refused at once (RST) instead of
 * waiting for ARP or a timeout. Replaces an existing one, so it is idempotent.
 */
export function localRouteRequest(
  type: typeof RTM_NEWROUTE | typeof RTM_DELROUTE,
  route: { index: number; network: string; prefix: number },
): NetlinkRequest {
  const rtmsg = Buffer.alloc(RTMSG_LEN);
  rtmsg.writeUInt8(AF_INET, 0);
  rtmsg.writeUInt8(route.prefix, 1);
  rtmsg.writeUInt8(RT_TABLE_LOCAL, 4);
  rtmsg.writeUInt8(RTPROT_STATIC, 5);
  rtmsg.writeUInt8(RT_SCOPE_HOST, 6);
  rtmsg.writeUInt8(RTN_LOCAL, 7);
  const oif = Buffer.alloc(4);
  oif.writeUInt32LE(route.index, 0);
  return {
    type,
    flags:
      type === RTM_NEWROUTE
        ? NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        : NLM_F_REQUEST | NLM_F_ACK,
    body: Buffer.concat([rtmsg, ipv4Attribute(RTA_DST, route.network), attribute(RTA_OIF, oif)]),
  };
}

/** RTM_GETROUTE for one IPv4 destination: the kernel answers with the route it would use. */
export function routeGetRequest(destination: string): NetlinkRequest {
  const rtmsg = Buffer.alloc(RTMSG_LEN);
  rtmsg.writeUInt8(AF_INET, 0);
  rtmsg.writeUInt8(32, 1);
  return {
    type: RTM_GETROUTE,
    flags: NLM_F_REQUEST,
    body: Buffer.concat([rtmsg, ipv4Attribute(RTA_DST, destination)]),
  };
}

/** A dump of every link, every IPv4 address or every IPv4 route (all tables). */
export function dumpRequest(
  type: typeof RTM_GETLINK | typeof RTM_GETADDR | typeof RTM_GETROUTE,
): NetlinkRequest {
  const header =
    type === RTM_GETLINK
      ? ifinfomsg(AF_UNSPEC, 0, 0, 0)
      : type === RTM_GETADDR
        ? ifaddrmsg(0, 0)
        : Buffer.from([AF_INET, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  return { type, flags: NLM_F_REQUEST | NLM_F_DUMP, body: header };
}

// ---------------------------------------------------------------------------------------------
// Decoding

function malformed(what: string): Error {
  return new Error(`malformed netlink data: ${what}`);
}

/** Split a datagram into messages; refuses lengths that run past the end. */
export function parseMessages(data: Buffer): NetlinkMessage[] {
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset + NLMSG_HDRLEN <= data.length) {
    const length = data.readUInt32LE(offset);
    if (length < NLMSG_HDRLEN || offset + length > data.length)
      throw malformed(`message length ${length} at offset ${offset} of ${data.length}`);
    messages.push({
      type: data.readUInt16LE(offset + 4),
      flags: data.readUInt16LE(offset + 6),
      seq: data.readUInt32LE(offset + 8),
      pid: data.readUInt32LE(offset + 12),
      body: data.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  return messages;
}

/** Attributes by type (flag bits masked off); a repeated type keeps the last. */
export function parseAttributes(data: Buffer): Map<number, Buffer> {
  const attributes = new Map<number, Buffer>();
  let offset = 0;
  while (offset + 4 <= data.length) {
    const length = data.readUInt16LE(offset);
    if (length < 4 || offset + length > data.length)
      throw malformed(`attribute length ${length} at offset ${offset} of ${data.length}`);
    attributes.set(data.readUInt16LE(offset + 2) & NLA_TYPE_MASK, data.subarray(offset + 4, offset + length));
    offset += align4(length);
  }
  return attributes;
}

function stringOf(value: Buffer | undefined): string | null {
  if (value === undefined) return null;
  const end = value.indexOf(0);
  return value.toString('utf8', 0, end === -1 ? value.length : end);
}

function ipv4Of(value: Buffer | undefined): string | null {
  return value !== undefined && value.length === 4 ? intToIp(value.readUInt32BE(0)) : null;
}

function u32Of(value: Buffer | undefined): number | null {
  return value !== undefined && value.length >= 4 ? value.readUInt32LE(0) : null;
}

function needBody(message: NetlinkMessage, length: number, what: string): void {
  if (message.body.length < length) throw malformed(`${what} of ${message.body.length} bytes`);
}

export interface Ack {
  /** 0 for success, else a positive errno. */
  errno: number;
  /** The kernel's extended-ACK text (NLMSGERR_ATTR_MSG), when it sent one. */
  kernelMessage: string | null;
}

/** Decode an NLMSG_ERROR (an ACK when errno is 0). */
export function parseAck(message: NetlinkMessage): Ack {
  needBody(message, 4 + NLMSG_HDRLEN, 'NLMSG_ERROR');
  const errno = -message.body.readInt32LE(0) | 0; // | 0: no -0 for success
  let kernelMessage: string | null = null;
  if (message.flags & NLM_F_ACK_TLVS) {
    const echoed = message.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : message.body.readUInt32LE(4);
    const attributes = parseAttributes(message.body.subarray(4 + align4(echoed)));
    kernelMessage = stringOf(attributes.get(NLMSGERR_ATTR_MSG));
  }
  return { errno, kernelMessage };
}

export interface Link {
  index: number;
  name: string;
  flags: number;
  /** IFLA_INFO_KIND (dummy, bridge, veth…); null for physical devices and loopback. */
  kind: string | null;
  alias: string | null;
}

export function parseLink(message: NetlinkMessage): Link {
  needBody(message, IFINFOMSG_LEN, 'ifinfomsg');
  const attributes = parseAttributes(message.body.subarray(IFINFOMSG_LEN));
  const linkinfo = attributes.get(IFLA_LINKINFO);
  return {
    index: message.body.readInt32LE(4),
    name: stringOf(attributes.get(IFLA_IFNAME)) ?? '',
    flags: message.body.readUInt32LE(8),
    kind: linkinfo === undefined ? null : stringOf(parseAttributes(linkinfo).get(IFLA_INFO_KIND)),
    alias: stringOf(attributes.get(IFLA_IFALIAS)),
  };
}

export interface Address {
  index: number;
  ip: string;
  prefix: number;
}

/** An IPv4 address message, or null for other families. */
export function parseAddress(message: NetlinkMessage): Address | null {
  needBody(message, IFADDRMSG_LEN, 'ifaddrmsg');
  if (message.body.readUInt8(0) !== AF_INET) return null;
  const attributes = parseAttributes(message.body.subarray(IFADDRMSG_LEN));
  const ip = ipv4Of(attributes.get(IFA_LOCAL)) ?? ipv4Of(attributes.get(IFA_ADDRESS));
  if (ip === null) return null;
  return { index: message.body.readUInt32LE(4), ip, prefix: message.body.readUInt8(1) };
}

export interface Route {
  table: number;
  /** RTN_* route type: 1 unicast, 2 local, 3 broadcast, 6 blackhole, 7 unreachable, 8 prohibit… */
  type: number;
  dst: string;
  prefix: number;
  /** Output interface index, null for multipath and blackhole routes. */
  oif: number | null;
  /** Next hop, null for a directly connected destination. */
  gateway: string | null;
  /** Source address the kernel picks, when it says. */
  prefsrc: string | null;
}

/** An IPv4 route message, or null for other families. */
export function parseRoute(message: NetlinkMessage): Route | null {
  needBody(message, RTMSG_LEN, 'rtmsg');
  if (message.body.readUInt8(0) !== AF_INET) return null;
  const attributes = parseAttributes(message.body.subarray(RTMSG_LEN));
  return {
    table: u32Of(attributes.get(RTA_TABLE)) ?? message.body.readUInt8(4),
    type: message.body.readUInt8(7),
    dst: ipv4Of(attributes.get(RTA_DST)) ?? '0.0.0.0',
    prefix: message.body.readUInt8(1),
    oif: u32Of(attributes.get(RTA_OIF)),
    gateway: ipv4Of(attributes.get(RTA_GATEWAY)),
    prefsrc: ipv4Of(attributes.get(RTA_PREFSRC)),
  };
}

export interface DumpProgress {
  replies: NetlinkMessage[];
  /** The kernel saw the table change mid-dump (NLM_F_DUMP_INTR): the replies may be inconsistent. */
  interrupted: boolean;
  done: boolean;
}

/**
 * Fold one datagram of a dump answer into `progress`: a dump spans many datagrams of NLM_F_MULTI
 * messages and ends with NLMSG_DONE. Copies the replies out of the receive buffer.
 */
export function takeDumpReplies(
  progress: DumpProgress,
  messages: readonly NetlinkMessage[],
  seq: number,
  what: string,
): void {
  for (const message of messages) {
    if (message.seq !== seq || progress.done) continue;
    if (message.type === NLMSG_ERROR) {
      const ack = parseAck(message);
      throw new NetlinkError(what, ack.errno, ack.kernelMessage);
    }
    if (message.type === NLMSG_DONE) {
      // A dump that failed part-way ends with NLMSG_DONE carrying the negative errno.
      const status = message.body.length >= 4 ? message.body.readInt32LE(0) : 0;
      if (status < 0) throw new NetlinkError(what, -status);
      progress.done = true;
      continue;
    }
    if (message.flags & NLM_F_DUMP_INTR) progress.interrupted = true;
    progress.replies.push({ ...message, body: Buffer.from(message.body) });
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

/** "File exists (EEXIST)": libc's text plus the symbolic name people search for. */
function describeErrno(errno: number): string {
  return `${libc().strerror(errno)} (${errnoName(errno)})`;
}

export class NetlinkError extends Error {
  readonly errno: number;
  readonly kernelMessage: string | null;

  constructor(operation: string, errno: number, kernelMessage: string | null = null) {
    super(
      `${operation}: ${describeErrno(errno)}${kernelMessage === null ? '' : ` (kernel: ${kernelMessage})`}`,
    );
    this.name = 'NetlinkError';
    this.errno = errno;
    this.kernelMessage = kernelMessage;
  }
}

// ---------------------------------------------------------------------------------------------
// The socket

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_RCVTIMEO = 20;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_TRUNC = 0x20;

/** Requests packed into one sendto(). */
const BATCH_BYTES = 64 * 1024;
/** Wanted receive buffer; the kernel doubles it for bookkeeping. Root may exceed rmem_max. */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
/** What one queued ACK costs against the receive buffer (skb overhead dominates its 36 bytes). */
const ACK_COST_BYTES = 2048;
/** Dump datagrams are at most 32 KiB; an ACK is tiny. */
const RECEIVE_CHUNK_BYTES = 256 * 1024;
const RECEIVE_TIMEOUT_SECONDS = 5;
const DUMP_ATTEMPTS = 3;

function int32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32LE(value, 0);
  return out;
}

/**
 * One NETLINK_ROUTE socket. Calls are synchronous: rtnetlink answers while the request is being
 * sent (ACKs and the first dump chunk are queued before sendto() returns), so recv() does not wait;
 * SO_RCVTIMEO still bounds it so a surprise can never hang the helper.
 */
export class RtnetlinkSocket {
  readonly #fd: number;
  readonly #sendBuffer = Buffer.alloc(BATCH_BYTES);
  readonly #receiveBuffer = Buffer.alloc(RECEIVE_CHUNK_BYTES);
  /** sockaddr_nl of the kernel: family AF_NETLINK, port id 0, no groups. */
  readonly #kernel = Buffer.from([AF_NETLINK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  /** How many ACKs fit in the receive buffer without the kernel dropping some. */
  readonly #maxBatchMessages: number;
  #seq = Math.floor(Math.random() * 0x7fffffff);
  #closed = false;

  constructor() {
    const c = libc();
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw new NetlinkError('opening a netlink socket', koffi.errno());
    this.#fd = fd;
    try {
      this.#check('binding the netlink socket', c.bind(fd, this.#kernel, this.#kernel.length));
      if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int32(RECEIVE_BUFFER_BYTES), 4) < 0)
        c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int32(RECEIVE_BUFFER_BYTES), 4);
      if (c.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, int32(2 * BATCH_BYTES), 4) < 0)
        c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, int32(2 * BATCH_BYTES), 4);
      const timeout = Buffer.alloc(16); // struct timeval { tv_sec; tv_usec } on LP64
      timeout.writeBigInt64LE(BigInt(RECEIVE_TIMEOUT_SECONDS), 0);
      this.#check('setting SO_RCVTIMEO', c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16));
      // Short ACKs (no echoed request) and the kernel's own error text; best effort, as older
      // kernels lack these options and work without them.
      c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, int32(1), 4);
      c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, int32(1), 4);
      const size = Buffer.alloc(4);
      const sizeLength = int32(4);
      this.#check('reading SO_RCVBUF', c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, sizeLength));
      this.#maxBatchMessages = Math.max(16, Math.floor(size.readInt32LE(0) / ACK_COST_BYTES));
    } catch (err) {
      c.close(fd);
      throw err;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc().close(this.#fd);
  }

  /**
   * Send every request (each must carry NLM_F_ACK) in as few datagrams as fit and return each
   * one's ACK, in order. Failures are returned, not thrown: the caller decides which are fine.
   */
  transact(requests: readonly NetlinkRequest[]): Ack[] {
    const acks: Ack[] = [];
    let next = 0;
    while (next < requests.length) {
      const first = next;
      const firstSeq = this.#seq;
      let length = 0;
      for (; next < requests.length && next - first < this.#maxBatchMessages; next++) {
        const request = requests[next] as NetlinkRequest;
        if (!(request.flags & NLM_F_ACK))
          throw new Error(`netlink request type ${request.type} lacks NLM_F_ACK`);
        const size = encodedLength(request);
        if (size > BATCH_BYTES) throw new Error(`netlink request of ${size} bytes exceeds ${BATCH_BYTES}`);
        if (length + size > BATCH_BYTES) break;
        encodeMessage(request, this.#nextSeq(), this.#sendBuffer, length);
        length += size;
      }
      this.#send(this.#sendBuffer.subarray(0, length));
      const batch = new Array<Ack | undefined>(next - first);
      let pending = batch.length;
      while (pending > 0) {
        for (const message of this.#receive()) {
          const position = (message.seq - firstSeq) >>> 0;
          if (message.type !== NLMSG_ERROR || position >= batch.length || batch[position] !== undefined)
            continue;
          batch[position] = parseAck(message);
          pending--;
        }
      }
      acks.push(...(batch as Ack[]));
    }
    return acks;
  }

  /** Send one request and throw a NetlinkError naming `operation` unless the kernel accepted it. */
  perform(operation: string, request: NetlinkRequest): void {
    const [ack] = this.transact([request]);
    if (ack !== undefined && ack.errno !== 0) throw new NetlinkError(operation, ack.errno, ack.kernelMessage);
  }

  /** Every reply message of a dump; retried when the kernel flags it as interrupted by a change. */
  dump(request: NetlinkRequest): NetlinkMessage[] {
    const what = `netlink dump of type ${request.type}`;
    for (let attempt = 1; ; attempt++) {
      const seq = this.#nextSeq();
      this.#send(encodeMessage(request, seq));
      const progress: DumpProgress = { replies: [], interrupted: false, done: false };
      while (!progress.done) takeDumpReplies(progress, this.#receive(), seq, what);
      if (!progress.interrupted) return progress.replies;
      if (attempt === DUMP_ATTEMPTS)
        throw new Error(`${what} kept changing during ${DUMP_ATTEMPTS} attempts`);
    }
  }

  /** Send one request that the kernel answers with one message (not an ACK); return that message. */
  query(operation: string, request: NetlinkRequest): NetlinkMessage {
    const seq = this.#nextSeq();
    this.#send(encodeMessage(request, seq));
    for (;;) {
      for (const message of this.#receive()) {
        if (message.seq !== seq) continue;
        if (message.type === NLMSG_ERROR) {
          const ack = parseAck(message);
          throw new NetlinkError(operation, ack.errno === 0 ? EINVAL : ack.errno, ack.kernelMessage);
        }
        return { ...message, body: Buffer.from(message.body) };
      }
    }
  }

  #nextSeq(): number {
    const seq = this.#seq;
    this.#seq = (this.#seq + 1) >>> 0;
    return seq;
  }

  #check(operation: string, result: number): void {
    if (result < 0) throw new NetlinkError(operation, koffi.errno());
  }

  #send(data: Buffer): void {
    if (this.#closed) throw new Error('netlink socket used after close()');
    const c = libc();
    for (;;) {
      const sent = c.sendto(this.#fd, data, data.length, 0, this.#kernel, this.#kernel.length);
      if (sent >= 0) return;
      const errno = koffi.errno();
      if (errno !== EINTR) throw new NetlinkError('sending to netlink', errno);
    }
  }

  /** One datagram's messages; they view a shared buffer, valid until the next receive. */
  #receive(): NetlinkMessage[] {
    const c = libc();
    for (;;) {
      const received = c.recv(this.#fd, this.#receiveBuffer, this.#receiveBuffer.length, MSG_TRUNC);
      if (received > this.#receiveBuffer.length)
        throw new Error(`netlink datagram of ${received} bytes exceeds ${this.#receiveBuffer.length}`);
      if (received >= 0) return parseMessages(this.#receiveBuffer.subarray(0, received));
      const errno = koffi.errno();
      if (errno === EAGAIN)
        throw new NetlinkError(
          `receiving from netlink (no answer within ${RECEIVE_TIMEOUT_SECONDS} s)`,
          errno,
        );
      if (errno !== EINTR) throw new NetlinkError('receiving from netlink', errno);
    }
  }
}

/** Run `body` with a fresh socket, closed afterwards. */
export function withRtnetlink<T>(body: (socket: RtnetlinkSocket) => T): T {
  const socket = new RtnetlinkSocket();
  try {
    return body(socket);
  } finally {
    socket.close();
  }
}
