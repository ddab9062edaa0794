/**
 * The privileged operations done as root: a real interface, the hosts file's managed section and
 * listening sockets on any port. Used in-process by a daemon started as root and, behind the Unix
 * socket, by the helper server. Everything a caller asks for is checked here, before the system is
 * touched: addresses must be usable addresses of the interface's subnet, and `listen` only binds
 * an address this object made the interface's (setAddresses).
 */
import { DEFAULT_HOSTS_PATH } from '../common/defaults.ts';
import { NgrokdError, toUserFacing, type UserFacingError } from '../common/errors.ts';
import type {
  HostsEntry,
  InterfaceInfo,
  InterfaceSpec,
  ListenSocket,
  PrivilegedOps,
} from '../common/privileged.ts';
import {
  contains,
  intToIp,
  ipToInt,
  isReserved,
  parseCidr,
  parsePrivateCidr,
  type Subnet,
} from '../common/subnet.ts';
import { listenTcp } from './listen.ts';
import { HostsSection } from './hosts-file.ts';
import { subnetConflictError, type NetworkBackend } from './network-backend.ts';
import { currentProcess } from './process-identity.ts';
import { platformBackend } from './platform-backend.ts';
import { validateInterfaceName } from '../common/interface-name.ts';
import { resolveSafePath } from './safe-path.ts';

/** Root-owned file with the interface name and subnet the helper serves (optional). */
export const HELPER_NET_CONFIG_PATH = '/etc/ngrokd/helper.json';

export interface RootOpsOptions {
  /** The hosts file to manage (the caller resolves NGROKD_HOSTS_PATH). Default /etc/hosts. */
  hostsPath?: string;
  backend?: NetworkBackend;
  /** Our state directory: holds the journal when the hosts file must be rewritten in place. */
  stateDir?: string;
  /**
   * The socket that reaches this process (the daemon's control socket, the helper's socket), recorded
   * on the interface so a second daemon asking for it is refused naming this one.
   */
  ownerSocket?: string;
  /**
   * The helper's: the one interface name and subnet it serves, fixed by root (install-time arguments
   * or /etc/ngrokd/helper.json). ensureInterface refuses anything else, and teardown removes every
   * interface ngrokd made, since the helper owns them all. Unset for a daemon running as root,
   * which serves its own configuration.
   */
  pinned?: InterfaceSpec;
}

interface ManagedInterface {
  /** The configured name: info.name may differ (macOS reports its utunN). */
  name: string;
  info: InterfaceInfo;
  subnet: Subnet;
  hosts: HostsSection;
}

/**
 * Cleanup without a running owner (uninstall, `ngrokd cleanup`, the root watchdog, a helper's
 * start): remove `interfaceName`'s hosts section and every interface ngrokd created that no running
 * ngrokd uses. Idempotent; says what it removed.
 */
export async function removeLeftovers(options: {
  interfaceName: string;
  hostsPath?: string;
  stateDir?: string;
  backend?: NetworkBackend;
}): Promise<{ section: boolean; interfaces: string[] }> {
  const name = validateInterfaceName(options.interfaceName);
  const path = options.hostsPath ?? DEFAULT_HOSTS_PATH;
  resolveSafePath(path, { what: 'hosts file', owners: trustedOwners(), code: 'HOSTS_FILE_WRITE' });
  // Removing writes no entries, so the subnet the section validates against does not matter.
  const hosts = new HostsSection({
    path,
    interfaceName: name,
    subnet: '10.0.0.0/8',
    ...(options.stateDir === undefined ? {} : { journalDir: options.stateDir }),
  });
  const removed = await hosts.remove();
  const backend = options.backend ?? platformBackend();
  await hostsChanged(backend, removed);
  const interfaces = await backend.destroyManagedInterfaces();
  return { section: removed.changed, interfaces };
}

/**
 * What a teardown could not remove, collected so that every step is still tried and the one error
 * names all of it, with the way out.
 */
export class Leftovers {
  readonly #items: { what: string; why: string }[] = [];

  async attempt(what: string, step: () => Promise<unknown>): Promise<void> {
    try {
      await step();
    } catch (err) {
      this.#items.push({ what, why: err instanceof Error ? err.message : String(err) });
    }
  }

  throwIfAny(): void {
    if (this.#items.length === 0) return;
    throw new NgrokdError(
      'CLEANUP_INCOMPLETE',
      `left behind: ${this.#items.map((i) => `${i.what} (${i.why})`).join('; ')}`,
      'Fix the cause (a full disk, a file made read-only), then remove the rest with `sudo npm run ngrokd -- cleanup`.',
    );
  }
}

/** The uids that may own the directories on the way to a file this process writes as root. */
export function trustedOwners(): number[] {
  const euid = process.geteuid?.() ?? 0;
  return euid === 0 ? [0] : [0, euid];
}

/** Every write of the hosts file goes through here, so the backend can react (macOS: DNS flush). */
async function hostsChanged(
  backend: NetworkBackend,
  result: { changed: boolean },
): Promise<{ changed: boolean }> {
  if (result.changed) await backend.afterHostsChange?.();
  return result;
}

export class RootOps implements PrivilegedOps {
  readonly mode = 'root' as const;
  readonly hostsPath: string;
  readonly #backend: NetworkBackend;
  readonly #pinned: { name: string; subnet: Subnet } | null;
  readonly #stateDir: string | undefined;
  readonly #ownerSocket: string | undefined;
  #interface: ManagedInterface | null = null;
  /** The endpoint addresses set on the interface (listed or local by its route): the only ones `listen` binds. */
  #addresses = new Set<string>();

  constructor(options: RootOpsOptions = {}) {
    this.hostsPath = options.hostsPath ?? DEFAULT_HOSTS_PATH;
    this.#backend = options.backend ?? platformBackend();
    this.#stateDir = options.stateDir;
    this.#ownerSocket = options.ownerSocket;
    this.#pinned =
      options.pinned === undefined
        ? null
        : {
            name: validateInterfaceName(options.pinned.name),
            subnet: parsePrivateCidr(options.pinned.subnet, 'helper subnet'),
          };
    this.checkHostsPath();
  }

  /** The interface and subnet a pinned RootOps serves, or null. */
  get pinned(): InterfaceSpec | null {
    return this.#pinned === null ? null : { name: this.#pinned.name, subnet: this.#pinned.subnet.cidr };
  }

  /**
   * Refuse a hosts file that another user could redirect: every directory on the way must be closed
   * to others (helper/safe-path.ts). Checked at start and before every write.
   */
  checkHostsPath(): string {
    return resolveSafePath(this.hostsPath, {
      what: 'hosts file',
      owners: trustedOwners(),
      code: 'HOSTS_FILE_WRITE',
    });
  }

  /** Root mode uses the configured subnet as is. */
  effectiveSubnet(configured: string): string {
    return configured;
  }

  /** The interface being managed, or null before ensureInterface(). */
  get interface(): InterfaceInfo | null {
    return this.#interface?.info ?? null;
  }

  async ensureInterface(spec: InterfaceSpec): Promise<InterfaceInfo> {
    const name = validateInterfaceName(spec.name);
    // The private-range rule holds for both users: the helper's pinned subnet is checked when it
    // starts, a root daemon's net.subnet by the config schema.
    const subnet = parseCidr(spec.subnet, 'net.subnet');
    this.#refuseUnpinned(name, subnet);
    // The backend refuses a conflict too; asked first here so the fix fits who sets the subnet.
    const conflict = await this.#subnetConflict(name, subnet, null);
    if (conflict !== null) throw conflict;
    const previous = this.#interface;
    if (previous !== null && (previous.name !== name || previous.subnet.cidr !== subnet.cidr)) {
      // A new name or subnet: what was published for the old one must not linger.
      await this.clearEndpoints();
    }
    if (previous !== null && previous.name !== name) await this.#backend.destroyInterface(previous.name);
    const info = await this.#backend.ensureInterface(
      { name, subnet: subnet.cidr },
      this.#ownerSocket === undefined ? undefined : { ...currentProcess(), socket: this.#ownerSocket },
    );
    this.#interface = {
      name,
      info,
      subnet,
      hosts: new HostsSection({
        path: this.hostsPath,
        interfaceName: name,
        subnet: subnet.cidr,
        ...(this.#stateDir === undefined ? {} : { journalDir: this.#stateDir }),
      }),
    };
    return info;
  }

  /**
   * Read-only: what on this machine overlaps `spec.subnet` now (see PrivilegedOps.checkNetwork).
   * The helper answers only for its pinned interface and subnet, with the fix for helper.json.
   */
  async checkNetwork(spec: InterfaceSpec): Promise<UserFacingError | null> {
    const name = validateInterfaceName(spec.name);
    const subnet = parseCidr(spec.subnet, 'net.subnet');
    this.#refuseUnpinned(name, subnet);
    const managed = this.#interface;
    const serving = managed?.name === name && managed.subnet.cidr === subnet.cidr ? managed.info.name : null;
    const conflict = await this.#subnetConflict(name, subnet, serving);
    return conflict === null ? null : toUserFacing(conflict);
  }

  async #subnetConflict(name: string, subnet: Subnet, serving: string | null): Promise<NgrokdError | null> {
    const conflict = (await this.#backend.findSubnetConflict?.(subnet.cidr, name)) ?? null;
    if (conflict === null) return null;
    return subnetConflictError(conflict, {
      serving,
      helperConfig: this.#pinned === null ? null : HELPER_NET_CONFIG_PATH,
    });
  }

  async setAddresses(ips: readonly string[]): Promise<void> {
    const managed = this.#require('set endpoint addresses');
    const canonical = new Set<string>();
    for (const ip of ips) {
      const n = ipToInt(ip, 'endpoint address');
      if (!contains(managed.subnet, n) || isReserved(managed.subnet, n)) {
        throw new NgrokdError(
          'SUBNET_INVALID',
          `endpoint address ${ip} is not a usable address of ${managed.subnet.cidr}`,
          `Endpoint addresses must lie in ${managed.subnet.cidr}, excluding its network, gateway and broadcast addresses.`,
        );
      }
      canonical.add(intToIp(n));
    }
    try {
      await this.#backend.setAddresses(managed.info.name, [...canonical]);
    } finally {
      // On failure some changes may have been applied: listen only on what is certainly wanted.
      this.#addresses = new Set([...this.#addresses].filter((ip) => canonical.has(ip)));
    }
    this.#addresses = canonical;
  }

  async setHosts(entries: readonly HostsEntry[]): Promise<{ changed: boolean }> {
    const managed = this.#require('write the hosts file');
    this.checkHostsPath();
    return hostsChanged(this.#backend, await managed.hosts.setHosts(entries));
  }

  async listen(ip: string, port: number): Promise<ListenSocket> {
    if (!this.#addresses.has(ip)) {
      const name = this.#interface?.info.name ?? 'the ngrokd interface';
      throw new NgrokdError(
        'LISTEN_FAILED',
        `could not listen on ${ip}:${port}: ${ip} is not an endpoint address on ${name}`,
        'Set the endpoint addresses before listening on them; this is a bug if it happens.',
      );
    }
    return listenTcp(ip, port);
  }

  /**
   * Remove the hosts section and the endpoint addresses but keep the interface: what the helper
   * does when its client vanished, so a crashed app leaves no names pointing nowhere.
   */
  async clearEndpoints(): Promise<void> {
    const managed = this.#interface;
    if (managed === null) return;
    const problems: unknown[] = [];
    await Promise.resolve()
      .then(() => this.checkHostsPath())
      .then(() => managed.hosts.remove())
      .then((result) => hostsChanged(this.#backend, result))
      .catch((err: unknown) => problems.push(err));
    await this.#backend.setAddresses(managed.info.name, []).catch((err: unknown) => problems.push(err));
    this.#addresses.clear();
    if (problems.length > 0) throw problems[0];
  }

  /**
   * Remove the hosts section, the addresses and the interface; pinned (the helper), every interface
   * ngrokd made. Idempotent.
   */
  async teardown(): Promise<void> {
    const managed = this.#interface;
    const left = new Leftovers();
    if (managed !== null) {
      await left.attempt(`the hosts section in ${this.hostsPath}`, () => this.#removeSection(managed));
      await left.attempt(`the addresses on ${managed.info.name}`, () =>
        this.#backend.setAddresses(managed.info.name, []),
      );
      this.#addresses.clear();
      await left.attempt(`the interface ${managed.info.name}`, () =>
        this.#backend.destroyInterface(managed.info.name),
      );
      this.#interface = null;
    } else if (this.#pinned !== null) {
      // A helper that restarted knows no interface yet, but its section may still be there.
      await left.attempt(`the hosts section in ${this.hostsPath}`, () => this.removeLeftovers());
    }
    if (this.#pinned !== null)
      await left.attempt('the other interfaces ngrokd made', () => this.#backend.destroyManagedInterfaces());
    left.throwIfAny();
  }

  async #removeSection(managed: ManagedInterface): Promise<void> {
    this.checkHostsPath();
    await hostsChanged(this.#backend, await managed.hosts.remove());
  }

  /**
   * Pinned (the helper, at start): remove what an earlier run left behind, the pinned name's hosts
   * section and every interface ngrokd made; the app re-asserts all of it when it connects.
   */
  async removeLeftovers(): Promise<void> {
    if (this.#pinned === null) return;
    await removeLeftovers({
      interfaceName: this.#pinned.name,
      hostsPath: this.hostsPath,
      backend: this.#backend,
      ...(this.#stateDir === undefined ? {} : { stateDir: this.#stateDir }),
    });
  }

  #refuseUnpinned(name: string, subnet: Subnet): void {
    const pinned = this.#pinned;
    if (pinned === null || (pinned.name === name && pinned.subnet.cidr === subnet.cidr)) return;
    throw new NgrokdError(
      'SUBNET_INVALID',
      `the privileged helper serves interface ${pinned.name} with subnet ${pinned.subnet.cidr}, fixed by the administrator; this daemon asked for ${name} with ${subnet.cidr}`,
      `Set net.interface_name to ${pinned.name} and net.subnet to ${pinned.subnet.cidr}, or have an administrator set "interface_name" and "subnet" in ${HELPER_NET_CONFIG_PATH} and restart the helper.`,
    );
  }

  #require(action: string): ManagedInterface {
    if (this.#interface !== null) return this.#interface;
    throw new NgrokdError(
      'HELPER_ERROR',
      `cannot ${action} before the interface is set up`,
      'Call ensureInterface first; this is a bug if it happens.',
    );
  }
}
