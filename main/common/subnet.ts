/**
 * IPv4 subnets and addresses as unsigned 32-bit integers. Lives in common/ because both the engine
 * (allocation) and the privileged helper (validating every hosts line it writes) need it.
 * Parsing is strict: ambiguous forms (leading zeros, host bits set, IPv6) are refused, not guessed.
 */
import { NgrokdError } from './errors.ts';

/** Smallest and largest accepted prefix: a /30 still has one usable address, a /8 is 16M addresses. */
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

export interface Subnet {
  /** Canonical text, e.g. 10.107.0.0/16. */
  readonly cidr: string;
  readonly prefix: number;
  /** Network address (unsigned 32-bit integer). */
  readonly network: number;
  readonly broadcast: number;
  /** network + 1: reserved for the interface itself. */
  readonly gateway: number;
  /** Number of addresses, including network, gateway and broadcast. */
  readonly size: number;
}

const ALLOWED = `allowed: an IPv4 network in CIDR form with a prefix from /${MIN_PREFIX} to /${MAX_PREFIX}, such as 10.107.0.0/16`;
const SUBNET_FIX = `Use an IPv4 network in CIDR form with a prefix from /${MIN_PREFIX} to /${MAX_PREFIX} whose host bits are zero, such as 10.107.0.0/16.`;

/** Why `text` is not a dotted-quad IPv4 address, or null when it is. */
export function ipv4Problem(text: string): string | null {
  if (text.includes(':')) return 'it is IPv6 (only IPv4 is supported)';
  const octets = text.split('.');
  if (octets.length !== 4 || octets.some((o) => !/^[0-9]{1,3}$/.test(o)))
    return 'it is not a dotted-quad IPv4 address such as 10.107.0.2';
  for (const octet of octets) {
    if (octet.length > 1 && octet.startsWith('0')) return `octet "${octet}" has a leading zero`;
    if (Number(octet) > 255) return `octet ${octet} is above 255`;
  }
  return null;
}

/** The address as an unsigned integer, or null when it is not a strict dotted-quad IPv4 address. */
export function parseIpv4(text: string): number | null {
  if (ipv4Problem(text) !== null) return null;
  return text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Like parseIpv4 but throws NgrokdError('SUBNET_INVALID') naming the value. */
export function ipToInt(text: string, what = 'address'): number {
  const problem = ipv4Problem(text);
  if (problem !== null) {
    throw new NgrokdError(
      'SUBNET_INVALID',
      `${what} ${JSON.stringify(text)} is not a valid IPv4 address: ${problem}`,
      'Use a dotted-quad IPv4 address such as 10.107.0.2.',
    );
  }
  return parseIpv4(text) as number;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function subnetError(text: string, what: string, problem: string): NgrokdError {
  return new NgrokdError(
    'SUBNET_INVALID',
    `${what} ${JSON.stringify(text)} ${problem}; ${ALLOWED}`,
    SUBNET_FIX,
  );
}

/** Parse an IPv4 CIDR strictly. Throws NgrokdError('SUBNET_INVALID') naming the value and what is allowed. */
export function parseCidr(text: string, what = 'subnet'): Subnet {
  if (text.includes(':')) throw subnetError(text, what, 'is IPv6');
  const match = /^([^/]*)\/(0|[1-9][0-9]?)$/.exec(text);
  if (match === null) throw subnetError(text, what, 'is not of the form a.b.c.d/prefix');
  const address = match[1] ?? '';
  const prefix = Number(match[2]);
  const addressProblem = ipv4Problem(address);
  if (addressProblem !== null) throw subnetError(text, what, `has an invalid address: ${addressProblem}`);
  if (prefix > 32) throw subnetError(text, what, `has prefix /${prefix} (IPv4 prefixes go up to /32)`);
  if (prefix > MAX_PREFIX) throw subnetError(text, what, `is too small (prefix /${prefix})`);
  if (prefix < MIN_PREFIX) throw subnetError(text, what, `is too large (prefix /${prefix})`);
  const ip = parseIpv4(address) as number;
  const network = (ip & maskOf(prefix)) >>> 0;
  const cidr = `${intToIp(network)}/${prefix}`;
  if (network !== ip) throw subnetError(text, what, `has host bits set: did you mean ${cidr}?`);
  const size = 2 ** (32 - prefix);
  return { cidr, prefix, network, broadcast: network + size - 1, gateway: network + 1, size };
}

/** Whether `ip` (text or integer) lies in `subnet`, reserved addresses included. */
export function contains(subnet: Subnet, ip: string | number): boolean {
  const n = typeof ip === 'number' ? ip : parseIpv4(ip);
  return n !== null && n >= subnet.network && n <= subnet.broadcast;
}

/** Network, gateway and broadcast are never handed to an endpoint. */
export function isReserved(subnet: Subnet, ip: number): boolean {
  return ip === subnet.network || ip === subnet.gateway || ip === subnet.broadcast;
}

/** Addresses an endpoint can get: size minus network, gateway and broadcast (65,533 in a /16). */
export function usableSize(subnet: Subnet): number {
  return subnet.size - 3;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}

/**
 * The ranges an endpoint subnet may come from in root and helper mode: RFC 1918 private networks
 * and the shared address space of RFC 6598. Anything else is someone's public address, and putting
 * it on a local interface would capture every connection this machine makes to it.
 */
export const PRIVATE_RANGES: readonly Subnet[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
].map((cidr) => parseCidr(cidr));

export const PRIVATE_RANGES_TEXT = PRIVATE_RANGES.map((range) => range.cidr).join(', ');

/** Whether every address of `subnet` lies in one of PRIVATE_RANGES. */
export function isPrivateSubnet(subnet: Subnet): boolean {
  return PRIVATE_RANGES.some(
    (range) => subnet.network >= range.network && subnet.broadcast <= range.broadcast,
  );
}

/** Parse `text` and require a private range; throws SUBNET_INVALID naming the value and the rule. */
export function parsePrivateCidr(text: string, what = 'subnet'): Subnet {
  const subnet = parseCidr(text, what);
  if (isPrivateSubnet(subnet)) return subnet;
  throw new NgrokdError(
    'SUBNET_INVALID',
    `${what} ${subnet.cidr} is not a private range: endpoint addresses must lie inside one of ${PRIVATE_RANGES_TEXT}`,
    `Use a subnet inside ${PRIVATE_RANGES_TEXT} that nothing else on this machine uses, such as 10.107.0.0/16.`,
  );
}
