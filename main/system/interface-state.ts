/**
 * Read-only looks at the interface, for `doctor`. Whether a network interface is administratively up: Linux reads the
 * IFF_UP bit of /sys/class/net/<name>/flags; elsewhere (macOS: a utun is up while its process
 * holds it) the answer is null, "cannot tell".
 */
import { readFileSync } from 'node:fs';
import { validateInterfaceName } from '../common/interface-name.ts';
import { ipToInt } from '../common/subnet.ts';
import { RtnetlinkSocket } from './linux/netlink.ts';
import { findInterface, localRoutesOf } from './linux/interface.ts';

const IFF_UP = 0x1;

export function interfaceUp(name: string, platform: NodeJS.Platform = process.platform): boolean | null {
  if (platform !== 'linux') return null;
  validateInterfaceName(name);
  try {
    return (Number.parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'ascii').trim(), 16) & IFF_UP) !== 0;
  } catch {
    return null;
  }
}

/**
 * Linux: whether `ip` is this machine's through a local route on interface `name` (the subnet's,
 * which carries endpoint addresses not added one by one); null when that cannot be told (another
 * platform, no such interface, netlink unavailable).
 */
export function localByRoute(
  ip: string,
  name: string,
  platform: NodeJS.Platform = process.platform,
): boolean | null {
  if (platform !== 'linux') return null;
  let socket: RtnetlinkSocket | null = null;
  try {
    validateInterfaceName(name);
    socket = new RtnetlinkSocket();
    // By netlink, not /sys/class/net: that shows the interfaces of the namespace /sys was mounted in.
    const index = findInterface(name, socket)?.index;
    if (index === undefined) return null;
    const target = ipToInt(ip, 'endpoint address');
    // `ip route get` would name lo for any local address: the local table names the link.
    return localRoutesOf(socket, index).some((r) => covers(ipToInt(r.dst), r.prefix, target));
  } catch {
    return null;
  } finally {
    socket?.close();
  }
}

function covers(network: number, prefix: number, ip: number): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (network & mask) >>> 0 === (ip & mask) >>> 0;
}
