/**
 * Bound-endpoint discovery: what ngrok says this operator should reach, reduced to one entry per
 * normalised URL. Pooled endpoints (several ids behind one URL) become one entry, so they get one
 * local listener. Two URLs on one hostname with different ports stay two entries; they share the
 * hostname's IP because addresses are allocated per hostname. A bad URL never fails a poll: it is
 * skipped and reported.
 */
import { parseEndpointUrl, type EndpointAddress } from '../../common/endpoint-url.ts';
import { NgrokdError, type UserFacingError } from '../../common/errors.ts';
import type { NgrokApi } from './ngrok-api.ts';
import type { BoundEndpoint } from './schemas.ts';

export interface DesiredEndpoint {
  /** Normalised `scheme://host:port`: the identity of the entry. */
  url: string;
  address: EndpointAddress;
  /** Every endpoint id behind this URL, sorted. */
  ids: string[];
  /** From the first id (in sorted order) that has one. */
  name?: string;
  description?: string;
}

export interface Discovery {
  /** Sorted by url. */
  endpoints: DesiredEndpoint[];
  /** Endpoints that were skipped, sorted by id. */
  problems: UserFacingError[];
}

/** The endpoint fields discovery reads. */
export type DiscoveredEndpoint = BoundEndpoint;

/** Every page of the operator's bound endpoints, grouped. API failures throw (the caller keeps its last view). */
export async function discoverEndpoints(api: NgrokApi, operatorId: string): Promise<Discovery> {
  return groupEndpoints(await api.listBoundEndpoints(operatorId));
}

function problemFor(endpoint: DiscoveredEndpoint, err: unknown): UserFacingError {
  const reason = err instanceof NgrokdError ? err : undefined;
  return {
    code: reason?.code ?? 'URL_INVALID',
    message: `bound endpoint ${endpoint.id}: ${reason?.message ?? String(err)}`,
    fix: reason?.fix ?? 'Check the endpoint URL in the ngrok dashboard; it is skipped until it is valid.',
  };
}

/** Pure and deterministic: the same endpoints in any order give the same result. */
export function groupEndpoints(raw: readonly DiscoveredEndpoint[]): Discovery {
  const byId = new Map<string, DiscoveredEndpoint>();
  for (const endpoint of raw) if (!byId.has(endpoint.id)) byId.set(endpoint.id, endpoint);
  const sorted = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const groups = new Map<string, DesiredEndpoint>();
  const problems: UserFacingError[] = [];
  for (const endpoint of sorted) {
    const url = endpoint.url || endpoint.public_url;
    if (!url) {
      problems.push({
        code: 'URL_INVALID',
        message: `bound endpoint ${endpoint.id} has no url`,
        fix: 'Check the endpoint in the ngrok dashboard; it is skipped until it has a URL.',
      });
      continue;
    }
    let address: EndpointAddress;
    try {
      address = parseEndpointUrl(url);
    } catch (err) {
      problems.push(problemFor(endpoint, err));
      continue;
    }
    let group = groups.get(address.normalized);
    if (group === undefined) {
      group = { url: address.normalized, address, ids: [] };
      groups.set(address.normalized, group);
    }
    group.ids.push(endpoint.id);
    if (group.name === undefined && endpoint.name) group.name = endpoint.name;
    if (group.description === undefined && endpoint.description) group.description = endpoint.description;
  }
  const endpoints = [...groups.values()].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
  return { endpoints, problems };
}
