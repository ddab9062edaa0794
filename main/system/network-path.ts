/**
 * A fingerprint of the way this machine reaches a destination, compared over time to notice that
 * the network changed under open connections (another Wi-Fi, a VPN coming up or going, a cable
 * pulled). On Linux it is the route the kernel would use (RTM_GETROUTE for the destination:
 * output interface, gateway, source address), one small netlink query that stays cheap however many
 * addresses ngrokd0 carries. Elsewhere it is this machine's external addresses, which change with
 * the network too. Nothing here needs privileges.
 */
import { networkInterfaces } from 'node:os';
import { NetlinkError, parseRoute, routeGetRequest, RtnetlinkSocket } from './linux/netlink.ts';

export interface NetworkPathProbe {
  /** Equal strings mean the same path. Never throws: a failure is a path of its own ("no route"). */
  fingerprint(destination: string): string;
  close(): void;
}

/** Linux: the kernel's route to `destination`, over one netlink socket kept open. */
class RouteProbe implements NetworkPathProbe {
  #socket: RtnetlinkSocket | null = null;

  fingerprint(destination: string): string {
    try {
      this.#socket ??= new RtnetlinkSocket();
      const route = parseRoute(this.#socket.query('looking up a route', routeGetRequest(destination)));
      if (route === null) return 'no route';
      return `type ${route.type} dev ${route.oif ?? '-'} via ${route.gateway ?? '-'} src ${route.prefsrc ?? '-'}`;
    } catch (err) {
      // ENETUNREACH and friends: no way out right now, which is a path state like any other.
      if (err instanceof NetlinkError) return `no route (errno ${err.errno})`;
      this.close();
      return `probe failed (${err instanceof Error ? err.message : String(err)})`;
    }
  }

  close(): void {
    this.#socket?.close();
    this.#socket = null;
  }
}

/** Other platforms: every external address, except those of `ownInterface` (ours change by design). */
class AddressProbe implements NetworkPathProbe {
  readonly #ownInterface: string | undefined;

  constructor(ownInterface: string | undefined) {
    this.#ownInterface = ownInterface;
  }

  fingerprint(): string {
    const addresses: string[] = [];
    for (const [name, entries] of Object.entries(networkInterfaces())) {
      if (name === this.#ownInterface) continue;
      for (const entry of entries ?? [])
        if (!entry.internal) addresses.push(`${name} ${entry.cidr ?? entry.address}`);
    }
    return addresses.sort().join(', ') || 'no external address';
  }

  close(): void {}
}

export function createNetworkPathProbe(options: { ownInterface?: string } = {}): NetworkPathProbe {
  return process.platform === 'linux' ? new RouteProbe() : new AddressProbe(options.ownInterface);
}
