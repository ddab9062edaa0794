/**
 * The macOS tools the helper runs, as argv arrays (run by helper/run-command.ts, never a shell).
 * macOS has no netlink: addresses, routes and the resolver cache are changed with ifconfig, route,
 * dscacheutil and a HUP to mDNSResponder, exactly as an administrator would. Every value is
 * validated before any argv exists, so nothing a request carries can become an option or a command.
 * Absolute paths: a root process never searches PATH. NOT VERIFIED ON macOS.
 */
import { NgrokdError } from '../../common/errors.ts';
import { ipv4Problem, parseCidr } from '../../common/subnet.ts';
import { validateInterfaceName } from '../../common/interface-name.ts';
import type { CommandArgv } from '../run-command.ts';

export const IFCONFIG = '/sbin/ifconfig';
export const ROUTE = '/sbin/route';
export const DSCACHEUTIL = '/usr/bin/dscacheutil';
export const KILLALL = '/usr/bin/killall';

/** The fallback interface when no utun can be made. */
export const LOOPBACK = 'lo0';
/** Always explicit: without it ifconfig applies the classful mask (a 10.x alias would claim 10/8). */
const HOST_MASK = '255.255.255.255';

/** The only interfaces the helper ever changes on macOS: its utun, or lo0 in fallback. */
function checkInterface(name: string): string {
  validateInterfaceName(name);
  if (name === LOOPBACK || /^utun[0-9]{1,5}$/.test(name)) return name;
  throw new NgrokdError(
    'HELPER_ERROR',
    `interface ${JSON.stringify(name)} is not the helper's utun or lo0`,
    'This is a bug: the helper only changes the utun it created, or lo0 in fallback mode.',
  );
}

function checkIp(ip: string): string {
  const problem = ipv4Problem(ip);
  if (problem === null) return ip;
  throw new NgrokdError(
    'SUBNET_INVALID',
    `address ${JSON.stringify(ip)} is not a valid IPv4 address: ${problem}`,
    'Use a dotted-quad IPv4 address such as 10.107.0.2.',
  );
}

/** Add `ip` as a /32 alias: point-to-point to itself on a utun, a plain alias on lo0. */
export function addAddressCommand(iface: string, ip: string): CommandArgv {
  const name = checkInterface(iface);
  const address = checkIp(ip);
  if (name === LOOPBACK) return [IFCONFIG, LOOPBACK, 'alias', address, 'netmask', HOST_MASK, 'up'];
  return [IFCONFIG, name, 'inet', address, address, 'netmask', HOST_MASK, 'alias'];
}

export function removeAddressCommand(iface: string, ip: string): CommandArgv {
  return [IFCONFIG, checkInterface(iface), 'inet', checkIp(ip), '-alias'];
}

/** Send the whole subnet to the utun (lo0 needs no route: its aliases are local already). */
export function addRouteCommand(iface: string, subnet: string): CommandArgv {
  return [ROUTE, '-n', 'add', '-net', parseCidr(subnet).cidr, '-interface', checkInterface(iface)];
}

export function deleteRouteCommand(iface: string, subnet: string): CommandArgv {
  return [ROUTE, '-n', 'delete', '-net', parseCidr(subnet).cidr, '-interface', checkInterface(iface)];
}

/** Run after every hosts-file change: macOS caches lookups, including negative ones. */
export function flushDnsCommands(): CommandArgv[] {
  return [
    [DSCACHEUTIL, '-flushcache'],
    [KILLALL, '-HUP', 'mDNSResponder'],
  ];
}
