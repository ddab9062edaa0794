/**
 * The one OS-specific part of root mode: the interface and its addresses. One file per OS implements
 * it (linux/backend.ts, macos/backend.ts); platform-backend.ts picks one; root-ops.ts uses it. The
 * interface lives alone so that the OS files import it and nothing imports back.
 */
import type { InterfaceInfo, InterfaceSpec } from '../common/privileged.ts';
import type { ProcessIdentity } from './process-identity.ts';

/** Who uses an interface: a process, and the socket to reach it (its control socket, or the helper's). */
export interface InterfaceOwner extends ProcessIdentity {
  socket: string;
}

export interface NetworkBackend {
  /**
   * Create or adopt the interface for `owner` (this process and its socket); one that another
   * running ngrokd uses is refused with INTERFACE_IN_USE (Linux; a macOS utun belongs to its process).
   */
  ensureInterface(spec: InterfaceSpec, owner?: InterfaceOwner): Promise<InterfaceInfo>;
  /** Make exactly `ips` (as /32) exist on the interface besides its gateway. */
  setAddresses(name: string, ips: readonly string[]): Promise<void>;
  /** Remove the interface if it exists. */
  destroyInterface(name: string): Promise<void>;
  /**
   * Remove every interface ngrokd made except `keep` (Linux: every link carrying our alias; macOS:
   * the one this process holds, since a utun dies with its process). Returns the names removed.
   */
  destroyManagedInterfaces(options?: { keep?: string }): Promise<string[]>;
  /** Run after the hosts file actually changed (macOS: flush the DNS cache). */
  afterHostsChange?(): Promise<void>;
}
