/**
 * The one OS-specific part of root mode: the interface and its addresses. One file per OS implements
 * it (linux/backend.ts, macos/backend.ts); platform-backend.ts picks one; root-ops.ts uses it. The
 * interface lives alone so that the OS files import it and nothing imports back.
 */
import type { InterfaceInfo, InterfaceSpec } from '../common/privileged.ts';

export interface NetworkBackend {
  ensureInterface(spec: InterfaceSpec): Promise<InterfaceInfo>;
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
