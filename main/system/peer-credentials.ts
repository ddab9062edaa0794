/**
 * Who is on the other end of a Unix socket, as the kernel saw it at connect() time: SO_PEERCRED
 * (struct ucred) on Linux, LOCAL_PEERCRED (struct xucred) on macOS. The helper trusts nothing a
 * client says about itself; this is the only authentication it does.
 */
import koffi, { type TypeObject } from 'koffi';
import { libc, SocketCallError, socketAbi, type SocketPlatform } from './libc.ts';

export interface PeerCredentials {
  uid: number;
  gid: number;
  /** Linux only: macOS's LOCAL_PEERCRED carries no pid. */
  pid: number | null;
}

/** Linux `struct ucred`. */
export const ucred = koffi.struct({ pid: 'int32_t', uid: 'uint32_t', gid: 'uint32_t' });
/** macOS `struct xucred` (sys/ucred.h), XUCRED_VERSION 0: the first group is the effective gid. */
export const xucred = koffi.struct({
  cr_version: 'uint32_t',
  cr_uid: 'uint32_t',
  cr_ngroups: 'int16_t',
  cr_groups: koffi.array('uint32_t', 16),
});

const LINUX_SOL_SOCKET = 1;
const LINUX_SO_PEERCRED = 17;
const DARWIN_SOL_LOCAL = 0;
const DARWIN_LOCAL_PEERCRED = 1;
const XUCRED_VERSION = 0;

/** The getsockopt() level, option and struct for `platform`. */
export function peerCredentialQuery(platform: SocketPlatform): {
  level: number;
  option: number;
  struct: TypeObject;
} {
  return platform === 'darwin'
    ? { level: DARWIN_SOL_LOCAL, option: DARWIN_LOCAL_PEERCRED, struct: xucred }
    : { level: LINUX_SOL_SOCKET, option: LINUX_SO_PEERCRED, struct: ucred };
}

/** Decode the option value getsockopt() filled in. */
export function decodePeerCredentials(platform: SocketPlatform, value: Buffer): PeerCredentials {
  if (platform === 'darwin') {
    const cred = koffi.decode(value, xucred) as {
      cr_version: number;
      cr_uid: number;
      cr_ngroups: number;
      cr_groups: ArrayLike<number>;
    };
    if (cred.cr_version !== XUCRED_VERSION) throw new Error(`unexpected xucred version ${cred.cr_version}`);
    return { uid: cred.cr_uid, gid: cred.cr_ngroups > 0 ? (cred.cr_groups[0] ?? -1) : -1, pid: null };
  }
  const cred = koffi.decode(value, ucred) as { pid: number; uid: number; gid: number };
  return { uid: cred.uid, gid: cred.gid, pid: cred.pid };
}

/** The credentials of the process connected to the Unix socket `fd`. */
export function peerCredentials(fd: number): PeerCredentials {
  const platform = socketAbi().platform;
  const query = peerCredentialQuery(platform);
  const value = Buffer.alloc(koffi.sizeof(query.struct));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(value.length, 0);
  if (libc().getsockopt(fd, query.level, query.option, value, length) < 0) {
    throw new SocketCallError('getsockopt', koffi.errno());
  }
  return decodePeerCredentials(platform, value);
}

/** Root, and the one user the helper was installed for. */
export function isPeerAllowed(peer: PeerCredentials, allowedUid: number | null): boolean {
  return peer.uid === 0 || (allowedUid !== null && peer.uid === allowedUid);
}
