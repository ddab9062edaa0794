/**
 * The Linux interface that carries endpoint addresses: created, converged and removed over
 * rtnetlink. Declarative and idempotent: each call reads what the kernel has and changes only
 * the difference. Only links ngrokd created (a known kind plus our alias) are ever changed.
 *
 * Every function takes an optional open socket (a long-lived helper keeps one); without it, one is
 * opened for the call.
 */
import { NgrokdError } from '../../common/errors.ts';
import type { InterfaceInfo, InterfaceKind, InterfaceSpec } from '../../common/privileged.ts';
import {
  contains,
  intToIp,
  ipToInt,
  isReserved,
  overlaps,
  parseCidr,
  type Subnet,
} from '../../common/subnet.ts';
import { validateInterfaceName } from '../../common/interface-name.ts';
import { ADDRESSES_LISTED_UP_TO, SUBNET_CANDIDATES } from '../../common/defaults.ts';
import { subnetConflictError, type InterfaceOwner, type SubnetConflict } from '../network-backend.ts';
import { isRunning } from '../process-identity.ts';
import {
  addressRequest,
  createLinkRequest,
  deleteLinkRequest,
  dumpRequest,
  EADDRNOTAVAIL,
  EEXIST,
  ENODEV,
  ENOENT,
  ESRCH,
  EOPNOTSUPP,
  EPERM,
  NetlinkError,
  parseAddress,
  parseLink,
  parseRoute,
  RT_TABLE_LOCAL,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_LOCAL,
  localRouteRequest,
  RTM_NEWADDR,
  RtnetlinkSocket,
  setLinkRequest,
  withRtnetlink,
  type Address,
  type Ack,
  type Link,
  type Route,
} from './netlink.ts';

/**
 * Set as the link's alias (IFLA_IFALIAS) at creation: the mark that the link is ours to change. The
 * process using it is appended (`; pid=… start=… socket=…`), so a second daemon asking for the same
 * name is refused while the first one runs, instead of taking its addresses and hosts section.
 */
export const MANAGED_ALIAS = 'ngrokd managed interface';

function ownerAlias(owner: InterfaceOwner | undefined): string {
  if (owner === undefined) return MANAGED_ALIAS;
  // The alias is at most 255 bytes; a socket path that does not fit is left out.
  const base = `${MANAGED_ALIAS}; pid=${owner.pid} start=${owner.start ?? '-'}`;
  const full = `${base} socket=${owner.socket}`;
  return Buffer.byteLength(full) <= 255 ? full : base;
}

/** The owner recorded in a managed link's alias, or null. */
export function aliasOwner(alias: string | null): InterfaceOwner | null {
  const match = /^ngrokd managed interface; pid=(\d+) start=(\d+|-)(?: socket=(.*))?$/.exec(alias ?? '');
  if (match === null) return null;
  return {
    pid: Number(match[1]),
    start: match[2] === '-' ? null : Number(match[2]),
    socket: match[3] ?? '(unknown socket)',
  };
}

/**
 * Kinds tried in order. `dummy` is made for this; kernels built without it still have `bridge`,
 * and a bridge without ports is just as local: its addresses are reachable from this machine only.
 */
export const LINK_KINDS = ['dummy', 'bridge'] as const satisfies readonly InterfaceKind[];
type LinkKind = (typeof LINK_KINDS)[number];

export interface ManagedLink extends Link {
  kind: LinkKind;
}

/** The link called `name`, or null when there is none. */
export function findInterface(name: string, socket?: RtnetlinkSocket): Link | null {
  validateInterfaceName(name);
  return withSocket(socket, (nl) => findLink(listLinks(nl), name));
}

export function interfaceExists(name: string, socket?: RtnetlinkSocket): boolean {
  return findInterface(name, socket) !== null;
}

/** The IPv4 addresses on `name` as CIDR text (all carry the subnet's prefix); [] when it does not exist. */
export function listAddresses(name: string, socket?: RtnetlinkSocket): string[] {
  validateInterfaceName(name);
  return withSocket(socket, (nl) => {
    const link = findLink(listLinks(nl), name);
    if (link === null) return [];
    return addressesOf(nl, link.index).map((a) => `${a.ip}/${a.prefix}`);
  });
}

/**
 * Create the interface (or adopt ours), set it UP and give it exactly the gateway address
 * `subnet.gateway/prefix`. Refuses a subnet that overlaps an address or route of another interface.
 * If anything fails after the link was created, the link is deleted again.
 */
export function ensureInterface(
  spec: InterfaceSpec,
  options: { owner?: InterfaceOwner; socket?: RtnetlinkSocket } = {},
): InterfaceInfo {
  const { owner, socket } = options;
  const alias = ownerAlias(owner);
  const name = validateInterfaceName(spec.name);
  const subnet = parseCidr(spec.subnet, 'net.subnet');
  return withSocket(socket, (nl) => {
    const links = listLinks(nl);
    const existing = findLink(links, name);
    const adopted = existing === null ? null : requireManaged(existing);
    if (adopted !== null) refuseLiveOwner(adopted, owner);
    refuseConflicts(nl, subnet, links, existing?.index ?? null);
    if (adopted !== null) {
      nl.perform(`setting interface "${name}" up`, setLinkRequest(name, alias));
      assignGateway(nl, adopted.index, subnet, name);
      return { name, kind: adopted.kind, subnet: subnet.cidr };
    }
    const created = createLink(nl, name, alias);
    try {
      if (created.setAck.errno !== 0)
        throw new NetlinkError(
          `setting interface "${name}" up`,
          created.setAck.errno,
          created.setAck.kernelMessage,
        );
      const link = findLink(listLinks(nl), name);
      if (link === null) throw new NetlinkError(`finding interface "${name}" after creating it`, ENODEV);
      assignGateway(nl, link.index, subnet, name);
      return { name, kind: created.kind, subnet: subnet.cidr };
    } catch (err) {
      throw removeHalfMade(nl, name, err);
    }
  });
}

/**
 * Make exactly `ips` exist on the interface besides its gateway, in batches; more than
 * ADDRESSES_LISTED_UP_TO make none exist, the subnet's local route (routeLocally) making every one
 * of them local by itself. Every address must be a usable address of the interface's subnet: the
 * helper never adds an arbitrary address.
 *
 * Endpoint addresses carry the subnet's prefix, which makes them secondaries of the gateway: no
 * route per address beyond the kernel's local one, and those local routes all share one fib_info.
 * Measured with 10,000 addresses, that is 2-3x faster to add than /32s (each /32 is a primary with
 * its own fib_info, which the kernel rescans on every add).
 */
export function setAddresses(
  name: string,
  ips: readonly string[],
  socket?: RtnetlinkSocket,
): { added: number; removed: number } {
  validateInterfaceName(name);
  const wanted = new Set(ips.map((ip) => intToIp(ipToInt(ip, 'endpoint address'))));
  return withSocket(socket, (nl) => {
    const link = findLink(listLinks(nl), name);
    if (link === null) {
      throw new NgrokdError(
        'HELPER_ERROR',
        `interface "${name}" does not exist`,
        'Restart the daemon so it creates the interface again.',
      );
    }
    const { index } = requireManaged(link);
    const addresses = addressesOf(nl, index);
    const subnet = gatewaySubnet(addresses, name);
    for (const ip of wanted) {
      if (!contains(subnet, ip) || isReserved(subnet, ipToInt(ip))) {
        throw new NgrokdError(
          'SUBNET_INVALID',
          `endpoint address ${ip} is not a usable address of ${subnet.cidr} on interface "${name}"`,
          `Endpoint addresses must lie in ${subnet.cidr}, excluding its network, gateway and broadcast addresses.`,
        );
      }
    }
    const gateway = intToIp(subnet.gateway);
    if (wanted.size > ADDRESSES_LISTED_UP_TO) wanted.clear();
    const endpoints = addresses.filter((a) => a.ip !== gateway);
    const kept = new Set(endpoints.filter((a) => a.prefix === subnet.prefix).map((a) => a.ip));
    const removals = endpoints.filter((a) => !wanted.has(a.ip) || a.prefix !== subnet.prefix);
    const additions = [...wanted]
      .filter((ip) => !kept.has(ip))
      .map((ip) => ({ index, ip, prefix: subnet.prefix }));
    converge(nl, name, removals, additions);
    // Every pass puts the subnet's local route back if something took it (a link down and up
    // drops it): beyond ADDRESSES_LISTED_UP_TO it is all the endpoints have. Idempotent.
    routeLocally(nl, index, subnet, name);
    return { added: additions.length, removed: removals.length };
  });
}

/** Delete the interface (its addresses go with it). Returns false when there was none. */
export function destroyInterface(name: string, socket?: RtnetlinkSocket): boolean {
  validateInterfaceName(name);
  return withSocket(socket, (nl) => {
    const link = findLink(listLinks(nl), name);
    if (link === null) return false;
    const [ack] = nl.transact([deleteLinkRequest(requireManaged(link).index)]);
    if (ack === undefined || ack.errno === ENODEV) return false;
    if (ack.errno !== 0) throw new NetlinkError(`deleting interface "${name}"`, ack.errno, ack.kernelMessage);
    return true;
  });
}

/**
 * Delete every link that carries our alias (except `keep`): the helper owns all of them, so a link
 * left by an earlier name, an earlier install or a crash never keeps its addresses. Returns the
 * names deleted.
 */
export function destroyManagedInterfaces(
  options: { keep?: string } = {},
  socket?: RtnetlinkSocket,
): string[] {
  return withSocket(socket, (nl) => {
    // A link another running ngrokd uses (a second root daemon under its own name) is its to remove.
    const doomed = listLinks(nl).filter(
      (link) => isManaged(link) && link.name !== options.keep && !inUseByAnother(link),
    );
    if (doomed.length === 0) return [];
    const acks = nl.transact(doomed.map((link) => deleteLinkRequest(link.index)));
    const failed = doomed.filter((_, i) => {
      const errno = acks[i]?.errno ?? 0;
      return errno !== 0 && errno !== ENODEV;
    });
    const first = failed[0];
    if (first !== undefined) {
      const ack = acks[doomed.indexOf(first)] as Ack;
      throw new NetlinkError(`deleting interface "${first.name}"`, ack.errno, ack.kernelMessage);
    }
    return doomed.map((link) => link.name);
  });
}

// ---------------------------------------------------------------------------------------------

/** Run `body` on the given socket or a fresh one; kernel refusals become user-facing errors. */
function withSocket<T>(socket: RtnetlinkSocket | undefined, body: (nl: RtnetlinkSocket) => T): T {
  try {
    return socket === undefined ? withRtnetlink(body) : body(socket);
  } catch (err) {
    if (!(err instanceof NetlinkError)) throw err;
    throw new NgrokdError(
      'HELPER_ERROR',
      err.message,
      err.errno === EPERM
        ? 'Run the privileged helper as root: managing interfaces needs CAP_NET_ADMIN.'
        : 'See the daemon log; restarting the daemon converges the interface again.',
      { cause: err },
    );
  }
}

function listLinks(nl: RtnetlinkSocket): Link[] {
  return nl.dump(dumpRequest(RTM_GETLINK)).map(parseLink);
}

function findLink(links: readonly Link[], name: string): Link | null {
  return links.find((link) => link.name === name) ?? null;
}

function addressesOf(nl: RtnetlinkSocket, index: number): Address[] {
  return allAddresses(nl).filter((a) => a.index === index);
}

function allAddresses(nl: RtnetlinkSocket): Address[] {
  return nl
    .dump(dumpRequest(RTM_GETADDR))
    .map(parseAddress)
    .filter((a) => a !== null);
}

function isManaged(link: Link): link is ManagedLink {
  const alias = link.alias ?? '';
  return (
    (alias === MANAGED_ALIAS || alias.startsWith(`${MANAGED_ALIAS};`)) &&
    (LINK_KINDS as readonly (string | null)[]).includes(link.kind)
  );
}

function inUseByAnother(link: Link): boolean {
  const owner = aliasOwner(link.alias);
  return owner !== null && owner.pid !== process.pid && isRunning(owner);
}

/** Refuse a link another running ngrokd uses; a dead owner's link is adopted. */
function refuseLiveOwner(link: ManagedLink, owner: InterfaceOwner | undefined): void {
  const current = aliasOwner(link.alias);
  if (current === null || (owner !== undefined && current.pid === owner.pid) || !inUseByAnother(link)) return;
  throw new NgrokdError(
    'INTERFACE_IN_USE',
    `interface "${link.name}" is in use by another ngrokd (pid ${current.pid}, socket ${current.socket})`,
    `Stop that one first (kill ${current.pid}), or give this daemon its own net.interface_name and a net.subnet that does not overlap.`,
  );
}

function requireManaged(link: Link): ManagedLink {
  if (isManaged(link)) return link;
  throw new NgrokdError(
    'CONFIG_INVALID',
    `interface "${link.name}" already exists and was not created by ngrokd (kind ${link.kind ?? 'none'})`,
    `Set net.interface_name to a name no other interface uses, or delete "${link.name}" (ip link delete ${link.name}) if it is a leftover.`,
  );
}

/** The range `ip/prefix` belongs to, in the shape overlaps() compares. */
function rangeOf(ip: string, prefix: number): Subnet {
  const size = 2 ** (32 - prefix);
  const address = ipToInt(ip);
  const network = address - (address % size);
  return {
    cidr: `${intToIp(network)}/${prefix}`,
    prefix,
    network,
    broadcast: network + size - 1,
    gateway: network + 1,
    size,
  };
}

/** What the subnet rule looks at, read once: every link, IPv4 address and IPv4 route. */
interface NetworkView {
  links: readonly Link[];
  addresses: readonly Address[];
  routes: readonly Route[];
}

/**
 * Polled every few seconds, so what the rule never looks at is skipped before it is parsed: our own
 * addresses (up to 65,533 of them) and the local table (a route for each of them). With 10,000
 * endpoint addresses a check takes ~20 ms here, most of it the kernel's dumps.
 */
function readNetwork(nl: RtnetlinkSocket, links: readonly Link[], ownIndex: number | null): NetworkView {
  const addresses = nl
    .dump(dumpRequest(RTM_GETADDR))
    .filter((m) => m.body.length < 8 || m.body.readUInt32LE(4) !== ownIndex) // ifaddrmsg.ifa_index
    .map(parseAddress)
    .filter((a) => a !== null);
  const routes = nl
    .dump(dumpRequest(RTM_GETROUTE))
    .filter((m) => m.body.length < 5 || m.body.readUInt8(4) !== RT_TABLE_LOCAL) // rtmsg.rtm_table
    .map(parseRoute)
    .filter((r) => r !== null);
  return { links, addresses, routes };
}

/**
 * The subnet rule, the one place it is written: the first thing overlapping `subnet` that is not
 * ours (`ownIndex`): an address of another interface, or a route in any table but local (which
 * mirrors addresses) other than a default route (which overlaps everything). Null: nothing does.
 */
function overlapOf(
  net: NetworkView,
  subnet: Subnet,
  ownIndex: number | null,
): { range: string; what: string } | null {
  const interfaceName = (index: number): string =>
    net.links.find((l) => l.index === index)?.name ?? `#${index}`;
  for (const address of net.addresses) {
    if (address.index === ownIndex) continue;
    const range = rangeOf(address.ip, address.prefix);
    if (overlaps(subnet, range))
      return {
        range: range.cidr,
        what: `address ${address.ip}/${address.prefix} of interface "${interfaceName(address.index)}"`,
      };
  }
  for (const route of net.routes) {
    if (route.table === RT_TABLE_LOCAL || route.prefix === 0) continue;
    if (ownIndex !== null && route.oif === ownIndex) continue;
    const range = rangeOf(route.dst, route.prefix);
    if (overlaps(subnet, range)) {
      const via = route.oif === null ? 'with no interface' : `via interface "${interfaceName(route.oif)}"`;
      return { range: range.cidr, what: `a route ${via}` };
    }
  }
  return null;
}

/** What overlaps `subnet`, with the first free subnet of SUBNET_CANDIDATES for the fix; or null. */
function conflictOf(net: NetworkView, subnet: Subnet, ownIndex: number | null): SubnetConflict | null {
  const overlap = overlapOf(net, subnet, ownIndex);
  if (overlap === null) return null;
  const free = SUBNET_CANDIDATES.find(
    (candidate) => candidate !== subnet.cidr && overlapOf(net, parseCidr(candidate), ownIndex) === null,
  );
  return { subnet: subnet.cidr, ...overlap, free: free ?? null };
}

/**
 * Read-only: what on this machine overlaps `subnet` under the rule ensureInterface refuses by, or
 * null. `ownName` is ngrokd's interface: when it exists and is ours, its addresses and routes are
 * not a conflict. Cheap enough to poll (two dumps).
 */
export function findSubnetConflict(
  subnet: string,
  ownName: string | null,
  socket?: RtnetlinkSocket,
): SubnetConflict | null {
  const parsed = parseCidr(subnet, 'net.subnet');
  const own = ownName === null ? null : validateInterfaceName(ownName);
  return withSocket(socket, (nl) => {
    const links = listLinks(nl);
    const link = own === null ? null : findLink(links, own);
    const ownIndex = link !== null && isManaged(link) ? link.index : null;
    return conflictOf(readNetwork(nl, links, ownIndex), parsed, ownIndex);
  });
}

/** Refuse a subnet overlapping another interface's address or any route not through `ownIndex`. */
function refuseConflicts(
  nl: RtnetlinkSocket,
  subnet: Subnet,
  links: readonly Link[],
  ownIndex: number | null,
): void {
  const conflict = conflictOf(readNetwork(nl, links, ownIndex), subnet, ownIndex);
  if (conflict !== null) throw subnetConflictError(conflict);
}

/** Create `name` with the first kind this kernel supports; the link is UP and tagged once setAck is 0. */
function createLink(nl: RtnetlinkSocket, name: string, alias: string): { kind: LinkKind; setAck: Ack } {
  const refusals: string[] = [];
  for (const kind of LINK_KINDS) {
    // One datagram: no moment where the link exists untagged between two calls.
    const [created, set] = nl.transact([createLinkRequest({ name, kind }), setLinkRequest(name, alias)]);
    if (created === undefined || set === undefined)
      throw new Error('netlink returned fewer ACKs than requests');
    if (created.errno === 0) return { kind, setAck: set };
    const error = new NetlinkError(
      `creating interface "${name}" of kind ${kind}`,
      created.errno,
      created.kernelMessage,
    );
    if (created.errno !== EOPNOTSUPP && created.errno !== ENOENT) throw error;
    refusals.push(error.message);
  }
  throw new NgrokdError(
    'HELPER_ERROR',
    `this kernel supports none of the interface kinds ${LINK_KINDS.join(', ')}: ${refusals.join('; ')}`,
    'Load the dummy or bridge kernel module (modprobe dummy), or use user mode.',
  );
}

/**
 * Make `subnet.gateway/prefix` the link's only gateway-like address: a changed net.subnet replaces
 * the old gateway (its secondaries go with it or get promoted; setAddresses removes those).
 */
function assignGateway(nl: RtnetlinkSocket, index: number, subnet: Subnet, name: string): void {
  const gateway = { index, ip: intToIp(subnet.gateway), prefix: subnet.prefix };
  const addresses = addressesOf(nl, index);
  const isOurs = (a: Address): boolean => a.ip === gateway.ip && a.prefix === gateway.prefix;
  const stale = addresses.filter((a) => isGatewayLike(a) && !isOurs(a));
  converge(nl, name, stale, addresses.some(isOurs) ? [] : [gateway]);
  routeLocally(nl, index, subnet, name);
}

/** The local routes (table local, type local) through link `index`: its addresses' and its subnet's. */
export function localRoutesOf(nl: RtnetlinkSocket, index: number): Route[] {
  return nl
    .dump(dumpRequest(RTM_GETROUTE))
    .map(parseRoute)
    .filter(
      (r): r is Route => r !== null && r.table === RT_TABLE_LOCAL && r.type === RTN_LOCAL && r.oif === index,
    );
}

/**
 * The whole subnet as a local route on the link (`ip route add local SUBNET dev NAME table local`):
 * a connection to an address of the subnet that nothing listens on (an endpoint just removed, a
 * typo) is refused at once, where a NOARP link (dummy) would leave it hanging and a bridge answer
 * EHOSTUNREACH after seconds of ARP. A local route left from an earlier subnet is removed.
 */
function routeLocally(nl: RtnetlinkSocket, index: number, subnet: Subnet, name: string): void {
  const stale = localRoutesOf(nl, index).filter(
    (r) => r.prefix < 32 && !(r.dst === intToIp(subnet.network) && r.prefix === subnet.prefix),
  );
  const requests = [
    ...stale.map((r) =>
      localRouteRequest(RTM_DELROUTE, { index, network: r?.dst ?? '', prefix: r?.prefix ?? 0 }),
    ),
    localRouteRequest(RTM_NEWROUTE, { index, network: intToIp(subnet.network), prefix: subnet.prefix }),
  ];
  const acks = nl.transact(requests);
  const failed = acks.findIndex((ack, i) => ack.errno !== 0 && !(i < stale.length && ack.errno === ESRCH));
  if (failed !== -1) {
    const ack = acks[failed] as Ack;
    throw new NetlinkError(
      `routing ${subnet.cidr} locally on interface "${name}"`,
      ack.errno,
      ack.kernelMessage,
    );
  }
}

/** Remove then add addresses in one batch; already-gone and already-there count as done. */
function converge(
  nl: RtnetlinkSocket,
  name: string,
  removals: readonly Address[],
  additions: readonly Address[],
): void {
  const changes = [
    ...removals.map((address) => ({ add: false, address, request: addressRequest(RTM_DELADDR, address) })),
    ...additions.map((address) => ({ add: true, address, request: addressRequest(RTM_NEWADDR, address) })),
  ];
  const acks = nl.transact(changes.map((c) => c.request));
  const failed = changes
    .map((change, i) => ({ ...change, ack: acks[i] as Ack }))
    .filter(({ add, ack }) => ack.errno !== 0 && ack.errno !== (add ? EEXIST : EADDRNOTAVAIL));
  const first = failed[0];
  if (first === undefined) return;
  const cidr = `${first.address.ip}/${first.address.prefix}`;
  const others = failed.length > 1 ? ` (and ${failed.length - 1} more address changes)` : '';
  const action = first.add ? `adding ${cidr} to` : `removing ${cidr} from`;
  throw new NetlinkError(`${action} interface "${name}"${others}`, first.ack.errno, first.ack.kernelMessage);
}

/** network + 1 of its own prefix: how the gateway looks (endpoint addresses never do). */
function isGatewayLike(address: Address): boolean {
  return address.prefix < 32 && ipToInt(address.ip) === rangeOf(address.ip, address.prefix).gateway;
}

/** The subnet of the link's gateway address. */
function gatewaySubnet(addresses: readonly Address[], name: string): Subnet {
  const gateway = addresses.find(isGatewayLike);
  if (gateway === undefined) {
    throw new NgrokdError(
      'HELPER_ERROR',
      `interface "${name}" has no gateway address`,
      'Restart the daemon so it sets the interface up again.',
    );
  }
  return parseCidr(rangeOf(gateway.ip, gateway.prefix).cidr, `subnet of interface "${name}"`);
}

/** Delete the link this call created, then hand back the error to throw. */
function removeHalfMade(nl: RtnetlinkSocket, name: string, cause: unknown): unknown {
  try {
    const link = findLink(listLinks(nl), name);
    if (link !== null) nl.perform(`deleting half-made interface "${name}"`, deleteLinkRequest(link.index));
    return cause;
  } catch (cleanup) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const detail = cleanup instanceof Error ? cleanup.message : String(cleanup);
    return new NgrokdError(
      'HELPER_ERROR',
      `setting up interface "${name}" failed (${reason}) and removing it failed too (${detail})`,
      `Delete it by hand: ip link delete ${name}`,
      { cause },
    );
  }
}
