import { NgrokdError } from './errors.ts';

export const PROTOS = ['http', 'https', 'tcp', 'tls'] as const;
export type Proto = (typeof PROTOS)[number];

/** A bound endpoint URL reduced to what a local listener needs. */
export interface EndpointAddress {
  proto: Proto;
  /** Lower-case DNS name, no port. This is what goes into /etc/hosts and ConnRequest.host. */
  hostname: string;
  /** Port sent on the wire and listened on locally. */
  port: number;
  /** `scheme://host:port`: the grouping key for pooled endpoints. */
  normalized: string;
}

const DEFAULT_PORTS: Record<Proto, number | undefined> = { http: 80, https: 443, tls: 443, tcp: undefined };
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` is not a valid DNS hostname, or null when it is. */
export function hostnameProblem(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  if (name.length > 253) return `it is ${name.length} characters long (at most 253 allowed)`;
  const labels = name.split('.');
  if (labels.length < 2) return 'it needs at least two labels (for example web.prod)';
  for (const label of labels) {
    if (label.length === 0) return 'it has an empty label';
    if (label.length > 63)
      return `label "${label.slice(0, 20)}…" is ${label.length} characters (at most 63 allowed)`;
    if (!LABEL.test(label.toLowerCase()))
      return `label ${JSON.stringify(label)} may contain only letters, digits and inner hyphens`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? ''))
    return 'its last label is numeric (an IP address is not a hostname)';
  return null;
}

export function assertHostname(name: string, what = 'hostname'): string {
  const problem = hostnameProblem(name);
  if (problem !== null) {
    throw new NgrokdError(
      'HOSTNAME_INVALID',
      `${what} ${JSON.stringify(name)} is not a valid DNS name: ${problem}`,
      'Use a DNS name made of labels of letters, digits and hyphens, such as my-api.ngrok.app.',
    );
  }
  return name.toLowerCase();
}

function urlError(raw: string, why: string): NgrokdError {
  return new NgrokdError(
    'URL_INVALID',
    `endpoint URL ${JSON.stringify(raw)} ${why}`,
    `Bound endpoint URLs look like http://name.namespace, tls://name.namespace:443 or tcp://name.namespace:5432 (schemes: ${PROTOS.join(', ')}).`,
  );
}

/** Parse and normalise a bound endpoint URL. Throws NgrokdError('URL_INVALID' | 'HOSTNAME_INVALID'). */
export function parseEndpointUrl(raw: string): EndpointAddress {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(raw.trim());
  if (match === null) throw urlError(raw, 'is not of the form scheme://host[:port]');
  const scheme = (match[1] ?? '').toLowerCase();
  const authority = match[2] ?? '';
  const rest = match[3] ?? '';
  if (!(PROTOS as readonly string[]).includes(scheme))
    throw urlError(raw, `has unsupported scheme "${scheme}"`);
  const proto = scheme as Proto;
  if (rest !== '' && rest !== '/')
    throw urlError(raw, `has a path or query "${rest}" (bound endpoints have none)`);
  if (authority.includes('@')) throw urlError(raw, 'contains user information');
  const hostPort = /^([^:]*)(?::([0-9]*))?$/.exec(authority);
  if (hostPort === null) throw urlError(raw, `has an unparseable host "${authority}"`);
  const host = hostPort[1] ?? '';
  if (host.includes('*')) throw urlError(raw, 'contains a wildcard (not supported for bound endpoints)');
  const hostname = assertHostname(host, `host of endpoint URL ${JSON.stringify(raw)}:`);
  let port: number;
  if (hostPort[2] !== undefined) {
    port = Number(hostPort[2]);
    if (hostPort[2] === '' || !Number.isInteger(port) || port < 1 || port > 65535)
      throw urlError(raw, `has port "${hostPort[2]}" (allowed: 1-65535)`);
  } else {
    const fallback = DEFAULT_PORTS[proto];
    if (fallback === undefined) throw urlError(raw, 'has no port (tcp endpoints need one)');
    port = fallback;
  }
  return { proto, hostname, port, normalized: `${proto}://${hostname}:${port}` };
}
