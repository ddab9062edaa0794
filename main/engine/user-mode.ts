/**
 * Privileged operations without privileges. On Linux every 127/8 address is already local on `lo`,
 * so endpoint addresses need no configuration; ports below the unprivileged start are moved up by
 * 10000 (80 → 10080); the hosts file is managed only when this process may replace it.
 */
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { listenTcp } from '../system/listen.ts';
import { dirname } from 'node:path';
import { DEFAULT_HOSTS_PATH, DEFAULT_INTERFACE, DEFAULT_USER_SUBNET } from '../common/defaults.ts';
import { HostsSection } from '../system/hosts-file.ts';
import { NgrokdError, type UserFacingError } from '../common/errors.ts';
import type {
  HostsEntry,
  InterfaceInfo,
  InterfaceSpec,
  ListenSocket,
  PrivilegedOps,
} from '../common/privileged.ts';
import { contains, parseCidr, type Subnet } from '../common/subnet.ts';

/** Added to a privileged port in user mode. */
export const PORT_OFFSET = 10_000;

const LOOPBACK = parseCidr('127.0.0.0/8');

export interface UserModeOptions {
  /** Loopback subnet for endpoint addresses; must lie inside 127.0.0.0/8. */
  subnet?: string;
  /** Hosts file to manage (NGROKD_HOSTS_PATH); always managed when given. */
  hostsPath?: string;
  /** Hosts file managed when it is writable and no hostsPath is given. */
  defaultHostsPath?: string;
  /** Names the hosts section until ensureInterface() says otherwise. */
  interfaceName?: string;
  isRoot?: boolean;
  /** Our state directory: holds the journal when the hosts file must be rewritten in place. */
  stateDir?: string;
  /** First port an unprivileged process may bind (Linux: net.ipv4.ip_unprivileged_port_start). */
  unprivilegedPortStart?: number;
}

function readUnprivilegedPortStart(): number {
  try {
    const value = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    return Number.isInteger(value) ? value : 1024;
  } catch {
    return 1024;
  }
}

/** Whether this process may atomically replace `path` (write the file and create a temp file beside it). */
function canReplace(path: string): boolean {
  try {
    const target = realpathSync(path);
    accessSync(target, constants.R_OK | constants.W_OK);
    accessSync(dirname(target), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export class UserModeOps implements PrivilegedOps {
  readonly mode = 'user' as const;
  readonly subnet: Subnet;
  /** False when hostnames are not written to any hosts file (status says so). */
  readonly hostsManaged: boolean;
  readonly hostsPath: string | null;
  readonly #isRoot: boolean;
  readonly #unprivilegedPortStart: number;
  #interfaceName: string;
  readonly #stateDir: string | undefined;
  #hosts: HostsSection | null = null;

  constructor(options: UserModeOptions = {}) {
    this.subnet = parseCidr(options.subnet ?? DEFAULT_USER_SUBNET, 'user-mode subnet');
    if (this.subnet.network < LOOPBACK.network || this.subnet.broadcast > LOOPBACK.broadcast) {
      throw new NgrokdError(
        'SUBNET_INVALID',
        `user-mode subnet ${this.subnet.cidr} is not inside the loopback network 127.0.0.0/8`,
        `Set net.user_subnet to a subnet of 127.0.0.0/8, such as ${DEFAULT_USER_SUBNET}.`,
      );
    }
    const hostsPath = options.hostsPath ?? options.defaultHostsPath ?? DEFAULT_HOSTS_PATH;
    this.hostsManaged = options.hostsPath !== undefined || canReplace(hostsPath);
    this.hostsPath = this.hostsManaged ? hostsPath : null;
    this.#isRoot = options.isRoot ?? process.getuid?.() === 0;
    this.#unprivilegedPortStart = options.unprivilegedPortStart ?? readUnprivilegedPortStart();
    this.#interfaceName = options.interfaceName ?? DEFAULT_INTERFACE;
    this.#stateDir = options.stateDir;
  }

  /** User mode always uses its loopback subnet; the configured (root-mode) subnet does not apply. */
  effectiveSubnet(_configured: string): string {
    return this.subnet.cidr;
  }

  async ensureInterface(spec: InterfaceSpec): Promise<InterfaceInfo> {
    if (spec.name !== this.#interfaceName) {
      this.#interfaceName = spec.name;
      this.#hosts = null;
    }
    return { name: 'lo', kind: 'loopback', subnet: this.subnet.cidr };
  }

  /** Nothing can overlap: every 127/8 address is local on lo, whatever routes exist. */
  async checkNetwork(_spec: InterfaceSpec): Promise<UserFacingError | null> {
    return null;
  }

  /** Nothing to configure: every 127/8 address is local. Only checks the addresses belong here. */
  async setAddresses(ips: readonly string[]): Promise<void> {
    for (const ip of ips) this.#assertInSubnet(ip);
  }

  async setHosts(entries: readonly HostsEntry[]): Promise<{ changed: boolean }> {
    const hosts = this.#section();
    return hosts === null ? { changed: false } : hosts.setHosts(entries);
  }

  /** The port actually listened on for `port`: privileged ports move up by PORT_OFFSET. */
  localPort(port: number): number {
    return port < this.#unprivilegedPortStart && !this.#isRoot ? port + PORT_OFFSET : port;
  }

  async listen(ip: string, port: number): Promise<ListenSocket> {
    this.#assertInSubnet(ip);
    return listenTcp(ip, this.localPort(port), port);
  }

  /** Removes the hosts section; listeners belong to the forwarder, which closes them. */
  async teardown(): Promise<void> {
    await this.#section()?.remove();
  }

  #section(): HostsSection | null {
    if (this.hostsPath === null) return null;
    this.#hosts ??= new HostsSection({
      path: this.hostsPath,
      interfaceName: this.#interfaceName,
      subnet: this.subnet.cidr,
      ...(this.#stateDir === undefined ? {} : { journalDir: this.#stateDir }),
    });
    return this.#hosts;
  }

  #assertInSubnet(ip: string): void {
    if (!contains(this.subnet, ip)) {
      throw new NgrokdError(
        'SUBNET_INVALID',
        `address ${JSON.stringify(ip)} is not in the user-mode subnet ${this.subnet.cidr}`,
        'Allocate endpoint addresses from effectiveSubnet(); this is a bug if it happens.',
      );
    }
  }
}
