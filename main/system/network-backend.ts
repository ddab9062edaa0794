/**
 * The one OS-specific part of root mode: the interface and its addresses. One file per OS implements
 * it (linux/backend.ts, macos/backend.ts); platform-backend.ts picks one; root-ops.ts uses it. The
 * interface lives alone so that the OS files import it and nothing imports back.
 */
import { NgrokdError } from '../common/errors.ts';
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
  /**
   * Make exactly `ips` local on the interface besides its gateway: each one added (Linux: up to
   * ADDRESSES_LISTED_UP_TO; beyond, the subnet's local route alone carries them).
   */
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
  /**
   * Read-only, the subnet rule: what on this machine overlaps `subnet` (an address of another
   * interface; a route other than the default route in any table but local, not via `ownName`), or
   * null. Absent: the backend cannot tell (nothing is reported).
   */
  findSubnetConflict?(subnet: string, ownName: string): Promise<SubnetConflict | null>;
}

/** Something on this machine that overlaps a subnet, as findSubnetConflict finds it. */
export interface SubnetConflict {
  /** The subnet checked, e.g. 10.107.0.0/16. */
  subnet: string;
  /** The overlapping range, e.g. 10.107.128.0/17. */
  range: string;
  /** What it is, e.g. `a route via interface "tun0"`, `address 10.107.5.1/24 of interface "docker0"`. */
  what: string;
  /** The first of SUBNET_CANDIDATES other than `subnet` that nothing here overlaps, or null. */
  free: string | null;
}

/**
 * The one SUBNET_CONFLICT text, naming what overlaps and a free subnet. `serving`: ngrokd's
 * interface already carries the subnet (the overlap came later; ngrokd keeps serving and says whose
 * traffic it now receives). `helperConfig`: the subnet is the helper's, fixed by root in that file.
 */
export function subnetConflictError(
  conflict: SubnetConflict,
  context: { serving?: string | null; helperConfig?: string | null } = {},
): NgrokdError {
  const overlap = `net.subnet ${conflict.subnet} overlaps ${conflict.range} (${conflict.what})`;
  const message =
    context.serving === undefined || context.serving === null
      ? overlap
      : `${overlap}, which appeared after ngrokd set up ${context.serving}: ngrokd keeps serving, so this machine's connections to ${conflict.range} reach ngrokd instead`;
  const target =
    conflict.free === null
      ? 'a private range that no interface or route on this machine uses (see `ip -4 route show table all`)'
      : `${conflict.free} (free on this machine)`;
  const fix =
    context.helperConfig === undefined || context.helperConfig === null
      ? `Set net.subnet to ${target} and restart ngrokd, or remove what overlaps.`
      : `Have an administrator set "subnet" in ${context.helperConfig} to ${target} and restart the helper, and set net.subnet to the same; or remove what overlaps.`;
  return new NgrokdError('SUBNET_CONFLICT', message, fix);
}
