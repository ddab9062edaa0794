/**
 * The privileged operations the engine needs, stated declaratively: the engine says what should
 * exist, the implementation converges and is idempotent. Implementations:
 *  - user mode (main/engine/user-mode.ts): no root, loopback addresses, high ports;
 *  - root mode (main/system/root-ops.ts, in-process or behind the helper's socket through
 *    helper/client/helper-client.ts): a real interface, /etc/hosts,
 *    privileged ports passed as file descriptors.
 */
import type { Server } from 'node:net';
import type { UserFacingError } from './errors.ts';

/** What can carry the endpoint addresses: Linux links, a macOS utun, loopback aliases, user mode's lo. */
export const INTERFACE_KINDS = ['dummy', 'bridge', 'utun', 'loopback-alias', 'loopback'] as const;
export type InterfaceKind = (typeof INTERFACE_KINDS)[number];
export type PrivilegeMode = 'user' | 'root' | 'helper';

export interface InterfaceSpec {
  /** `net.interface_name`, e.g. ngrokd0. */
  name: string;
  /** CIDR the endpoint addresses come from, e.g. 10.107.0.0/16. */
  subnet: string;
}

export interface InterfaceInfo {
  /** The interface that actually carries the addresses (lo in user mode on Linux). */
  name: string;
  kind: InterfaceKind;
  subnet: string;
}

export interface HostsEntry {
  ip: string;
  hostname: string;
}

export interface ListenSocket {
  /** A server that is already listening; the forwarder attaches its connection handler. */
  server: Server;
  /** The port actually bound: equals the requested port unless user mode mapped it. */
  port: number;
}

export interface PrivilegedOps {
  readonly mode: PrivilegeMode;
  /** The hosts file whose managed section this writes, or null when hostnames are not managed. */
  readonly hostsPath: string | null;
  /** The subnet endpoint addresses must be allocated from in this mode (user mode: 127.107.0.0/16). */
  effectiveSubnet(configured: string): string;
  /** Create (or adopt) the interface; idempotent. */
  ensureInterface(spec: InterfaceSpec): Promise<InterfaceInfo>;
  /**
   * Read-only: whether `spec.subnet` overlaps a network of this machine (another interface's
   * address, a route not via our interface), as SUBNET_CONFLICT naming what overlaps and a free
   * subnet; null when nothing does (user mode's loopback: always). May be asked before
   * ensureInterface (root mode picks a subnet with it); the helper answers only for its own.
   */
  checkNetwork(spec: InterfaceSpec): Promise<UserFacingError | null>;
  /**
   * Make exactly these endpoint addresses the interface's (adds and removes the difference; on Linux
   * beyond ADDRESSES_LISTED_UP_TO the subnet's local route carries them instead of one address each).
   */
  setAddresses(ips: readonly string[]): Promise<void>;
  /** Replace the managed hosts section with exactly these entries; `changed` is false when nothing was written. */
  setHosts(entries: readonly HostsEntry[]): Promise<{ changed: boolean }>;
  /** Open a listening TCP socket on ip:port (mapping privileged ports in user mode). */
  listen(ip: string, port: number): Promise<ListenSocket>;
  /** Remove the hosts section, the addresses and the interface. Idempotent. */
  teardown(): Promise<void>;
  /** Helper mode: the helper's version from its last handshake (null before one), for `doctor`. */
  helperInfo?(): { version: string; compatible: boolean } | null;
}
