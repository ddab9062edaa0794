/**
 * Every default the daemon, the helper and the config schema share, in one place. The config
 * schema (main/engine/config.ts) turns them into the README's configuration table.
 */

/** The virtual interface; a non-default name also suffixes the hosts section markers. */
export const DEFAULT_INTERFACE = 'ngrokd0';
/**
 * Linux: up to this many endpoints, each endpoint address is also added to the interface (so
 * `ip addr show ngrokd0` lists them). Beyond it only the subnet's local route carries them: every
 * address of the subnet is this machine's through it anyway (listeners bind, connections are taken
 * or refused at once), and the kernel takes ~0.8 s to add 10,000 secondaries, walking its list on
 * every add.
 */
export const ADDRESSES_LISTED_UP_TO = 1_000;
/** Endpoint addresses in root and helper mode (a private range: see PRIVATE_RANGES). */
export const DEFAULT_SUBNET = '10.107.0.0/16';
/** Endpoint addresses in user mode: every 127/8 address is local on Linux. */
export const DEFAULT_USER_SUBNET = '127.107.0.0/16';
export const DEFAULT_HOSTS_PATH = '/etc/hosts';
export const DEFAULT_API_URL = 'https://api.ngrok.com';
/** Extra CA certificates for the binding ingress, as ngrok-operator ships them. */
export const DEFAULT_TRUST_DIR = '/etc/ssl/certs/ngrok';
export const DEFAULT_INGRESS = 'kubernetes-binding-ingress.ngrok.io:443';
/**
 * Where endpoint addresses may go when net.subnet is not set, in order: the default first. A root
 * daemon whose default overlaps a network of this machine at its first start (no mappings yet) takes
 * the first one nothing overlaps and keeps it (subnet.json in the state directory); a conflict found
 * later names the first free one in its fix. All RFC 1918, disjoint, and never 100.64.0.0/10, which
 * Tailscale and carrier-grade NAT use.
 */
export const SUBNET_CANDIDATES: readonly string[] = [
  DEFAULT_SUBNET,
  '10.108.0.0/16',
  '10.109.0.0/16',
  '172.29.0.0/16',
  '192.168.107.0/24',
];
