/**
 * The macOS interface backend: a utun made by the helper itself, the gateway as a point-to-point
 * alias, a route for the subnet, endpoint addresses as /32 aliases; loopback aliases on lo0 when no
 * utun can be made (sandbox, EPERM). The configured interface name (ngrokd0) cannot be used: the
 * kernel names utuns utunN, so InterfaceInfo.name reports the real one.
 *
 * The utun lives as long as its control socket, which this object keeps open for the helper's life:
 * a helper that dies takes the utun, its aliases and its route with it. lo0 aliases do not go away
 * on their own, which is why the helper's crash cleanup removes addresses explicitly.
 *
 * NOT VERIFIED ON macOS: the sequence of commands is unit-tested on Linux with a recording runner.
 */
import { NgrokdError } from '../../common/errors.ts';
import type { InterfaceInfo, InterfaceSpec } from '../../common/privileged.ts';
import { contains, intToIp, ipToInt, isReserved, parseCidr, type Subnet } from '../../common/subnet.ts';
import { validateInterfaceName } from '../../common/interface-name.ts';
import type { NetworkBackend, SubnetConflict } from '../network-backend.ts';
import { runCommand, type CommandArgv, type CommandRunner } from '../run-command.ts';
import {
  addAddressCommand,
  addRouteCommand,
  deleteRouteCommand,
  flushDnsCommands,
  IFCONFIG,
  LOOPBACK,
  removeAddressCommand,
} from './commands.ts';
import { openUtun } from './utun.ts';

/** What the backend needs of an open utun (helper/macos/utun.ts's Utun). */
export interface UtunHandle {
  readonly name: string;
  /** Destroys the interface with its addresses and routes. */
  close(): void;
}

export type UtunOpener = () => UtunHandle;

export interface MacosBackendOptions {
  /** Runs ifconfig/route/dscacheutil; tests inject a recorder. */
  run?: CommandRunner;
  /** Creates the utun; tests inject a fake. */
  openUtun?: UtunOpener;
}

interface ActiveInterface {
  /** The configured name (ngrokd0): accepted by destroyInterface, as removeLeftovers passes it. */
  readonly configuredName: string;
  readonly info: InterfaceInfo;
  readonly subnet: Subnet;
  /** null in the lo0 fallback. */
  readonly utun: UtunHandle | null;
  /** The endpoint aliases this backend added and has not removed: the only ones it ever removes. */
  readonly addresses: Set<string>;
}

/** ifconfig's words for EADDRNOTAVAIL: the alias is already gone, which is what removing wanted. */
const ALREADY_GONE = /Can't assign requested address/;

/**
 * Declarative like the Linux backend, but through ifconfig: it has no batching, so every address
 * added or removed is one ifconfig process. The diff keeps that to the addresses that
 * actually change. NOT VERIFIED ON macOS.
 */
export class MacosBackend implements NetworkBackend {
  readonly #run: CommandRunner;
  readonly #openUtun: UtunOpener;
  #active: ActiveInterface | null = null;
  #utunFailure: NgrokdError | null = null;
  /** Serialises changes: each one diffs against the state the previous one left. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: MacosBackendOptions = {}) {
    this.#run = options.run ?? runCommand;
    this.#openUtun = options.openUtun ?? (() => openUtun());
  }

  /** Why the last ensureInterface fell back to lo0, or null when it made a utun. */
  get utunFailure(): NgrokdError | null {
    return this.#utunFailure;
  }

  /** Idempotent for the same subnet (whatever the configured name: macOS does not use it). */
  async ensureInterface(spec: InterfaceSpec): Promise<InterfaceInfo> {
    const configuredName = validateInterfaceName(spec.name);
    const subnet = parseCidr(spec.subnet, 'net.subnet');
    return this.#serial(async () => {
      const active = this.#active;
      if (active !== null && active.subnet.cidr === subnet.cidr) return active.info;
      if (active !== null) await this.#destroy(active);
      let utun: UtunHandle;
      try {
        utun = this.#openUtun();
      } catch (err) {
        this.#utunFailure = asHelperError(err, 'could not create a utun interface');
        return this.#adopt(configuredName, subnet, null).info;
      }
      this.#utunFailure = null;
      return (await this.#configureUtun(configuredName, subnet, utun)).info;
    });
  }

  /** Every address is checked before the first command runs. */
  async setAddresses(name: string, ips: readonly string[]): Promise<void> {
    return this.#serial(async () => {
      const active = this.#require(name);
      const wanted = new Set(ips.map((ip) => usableAddress(active.subnet, ip)));
      for (const ip of [...active.addresses].filter((a) => !wanted.has(a))) {
        await this.#removeAlias(active, ip);
      }
      for (const ip of [...wanted].filter((a) => !active.addresses.has(a))) {
        await this.#runChecked(addAddressCommand(active.info.name, ip));
        active.addresses.add(ip);
      }
    });
  }

  /** The one interface this process holds (a utun made by an earlier process died with it). */
  async destroyManagedInterfaces(options: { keep?: string } = {}): Promise<string[]> {
    return this.#serial(async () => {
      const active = this.#active;
      if (active === null || active.configuredName === options.keep) return [];
      await this.#destroy(active);
      return [active.info.name];
    });
  }

  /** Accepts the utun's name or the configured one; any other name is not ours: nothing to do. */
  async destroyInterface(name: string): Promise<void> {
    validateInterfaceName(name);
    return this.#serial(async () => {
      const active = this.#active;
      if (active === null || (name !== active.info.name && name !== active.configuredName)) return;
      await this.#destroy(active);
    });
  }

  /** macOS caches lookups, negative ones included: a changed hosts file is seen only after a flush. */
  async afterHostsChange(): Promise<void> {
    await this.#runAll(flushDnsCommands());
  }

  /**
   * Not detected on macOS yet: reading the routing table needs a PF_ROUTE sysctl dump (or parsing
   * `netstat -rn`), neither written nor verified here. Null means "nothing found", so status shows
   * no conflict; the subnet rule is enforced on Linux only. NOT VERIFIED ON macOS.
   */
  async findSubnetConflict(_subnet: string, _ownName: string): Promise<SubnetConflict | null> {
    return null;
  }

  /** Gateway as a point-to-point alias, the interface up, the subnet routed to it; or nothing left. */
  async #configureUtun(configuredName: string, subnet: Subnet, utun: UtunHandle): Promise<ActiveInterface> {
    try {
      await this.#runChecked(addAddressCommand(utun.name, intToIp(subnet.gateway)));
      // utun.name passed decodeUtunName's /^utunN$/ check, so it cannot be read as an option.
      await this.#runChecked([IFCONFIG, utun.name, 'up']);
      await this.#runChecked(addRouteCommand(utun.name, subnet.cidr));
    } catch (err) {
      utun.close();
      throw err;
    }
    return this.#adopt(configuredName, subnet, utun);
  }

  #adopt(configuredName: string, subnet: Subnet, utun: UtunHandle | null): ActiveInterface {
    const info: InterfaceInfo =
      utun === null
        ? { name: LOOPBACK, kind: 'loopback-alias', subnet: subnet.cidr }
        : { name: utun.name, kind: 'utun', subnet: subnet.cidr };
    const active: ActiveInterface = { configuredName, info, subnet, utun, addresses: new Set() };
    this.#active = active;
    return active;
  }

  /** Endpoint aliases, then (utun) the route and the gateway; the utun is closed whatever failed. */
  async #destroy(active: ActiveInterface): Promise<void> {
    const problems: unknown[] = [];
    for (const ip of [...active.addresses]) {
      await this.#removeAlias(active, ip).catch((err: unknown) => problems.push(err));
    }
    if (active.utun !== null) {
      const { utun } = active;
      await this.#runAll([
        deleteRouteCommand(utun.name, active.subnet.cidr),
        removeAddressCommand(utun.name, intToIp(active.subnet.gateway)),
      ]).catch((err: unknown) => problems.push(err));
      utun.close();
    }
    this.#active = null;
    if (problems.length > 0) throw problems[0];
  }

  async #removeAlias(active: ActiveInterface, ip: string): Promise<void> {
    try {
      await this.#runChecked(removeAddressCommand(active.info.name, ip));
    } catch (err) {
      if (!(err instanceof Error && ALREADY_GONE.test(err.message))) throw err;
    }
    active.addresses.delete(ip);
  }

  /** Runs every command even when one fails, then reports the first failure. */
  async #runAll(commands: readonly CommandArgv[]): Promise<void> {
    const problems: unknown[] = [];
    for (const argv of commands) await this.#runChecked(argv).catch((err: unknown) => problems.push(err));
    if (problems.length > 0) throw problems[0];
  }

  async #runChecked(argv: CommandArgv): Promise<void> {
    try {
      await this.#run(argv);
    } catch (err) {
      throw asHelperError(err, `command ${JSON.stringify(argv.join(' '))} failed`);
    }
  }

  #require(name: string): ActiveInterface {
    const active = this.#active;
    if (active === null) {
      throw new NgrokdError(
        'HELPER_ERROR',
        `cannot set addresses on ${JSON.stringify(name)} before the interface is set up`,
        'Call ensureInterface first; this is a bug if it happens.',
      );
    }
    if (name !== active.info.name) {
      throw new NgrokdError(
        'HELPER_ERROR',
        `interface ${JSON.stringify(name)} is not the helper's interface (${active.info.name})`,
        'This is a bug: addresses go on the interface ensureInterface reported.',
      );
    }
    return active;
  }

  #serial<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(change);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** `ip` if it is an endpoint address of `subnet` (not its network, gateway or broadcast). */
function usableAddress(subnet: Subnet, ip: string): string {
  const n = ipToInt(ip, 'endpoint address');
  if (!contains(subnet, n) || isReserved(subnet, n)) {
    throw new NgrokdError(
      'SUBNET_INVALID',
      `endpoint address ${ip} is not a usable address of ${subnet.cidr}`,
      `Endpoint addresses must lie in ${subnet.cidr}, excluding its network, gateway and broadcast addresses.`,
    );
  }
  return intToIp(n);
}

/** NgrokdErrors pass through (runCommand's already name the command and its stderr). */
function asHelperError(err: unknown, context: string): NgrokdError {
  if (err instanceof NgrokdError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new NgrokdError('HELPER_ERROR', `${context}: ${detail}`, 'See the helper log for details.', {
    cause: err,
  });
}
