/**
 * Filtering 10,000 endpoints within a frame: the lowercase text of every endpoint is built once
 * per snapshot, each keystroke is then one `includes` per endpoint and term.
 */
import type { EndpointView } from '../../main/common/contract.ts';
import { localAddress } from './format.ts';

export function searchIndex(endpoints: readonly EndpointView[]): string[] {
  return endpoints.map((e) =>
    `${e.hostname} ${localAddress(e)} ${e.ip}:${e.port} ${e.url} ${e.proto} ${e.listening ? '' : 'error'}`.toLowerCase(),
  );
}

/** Endpoints whose text contains every whitespace-separated term of `query`. */
export function filterEndpoints(
  endpoints: readonly EndpointView[],
  index: readonly string[],
  query: string,
): readonly EndpointView[] {
  const terms = query
    .toLowerCase()
    .split(/\s+/)
    .filter((t) => t !== '');
  if (terms.length === 0) return endpoints;
  const matches: EndpointView[] = [];
  for (let i = 0; i < endpoints.length; i++) {
    const text = index[i] ?? '';
    if (terms.every((t) => text.includes(t))) matches.push(endpoints[i] as EndpointView);
  }
  return matches;
}
