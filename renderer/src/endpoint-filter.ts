/**
 * Filtering 10,000 endpoints within a frame: the lowercase text of every endpoint is built once,
 * each keystroke is then one `includes` per endpoint and term. The index is rebuilt only when the
 * set of endpoints or the text of one changes: a push that only moved counters passes endpoints
 * whose unchanged objects keep their identity (main/common/state-delta.ts), and only the changed
 * ones are looked at again.
 */
import type { EndpointView } from '../../main/common/contract.ts';
import { localAddress } from './format.ts';

function searchText(e: EndpointView): string {
  return `${e.hostname} ${localAddress(e)} ${e.ip}:${e.port} ${e.url} ${e.proto} ${e.listening ? '' : 'error'}`.toLowerCase();
}

/** The last index built and the endpoints it was built for. */
let last: { endpoints: readonly EndpointView[]; index: readonly string[] } | null = null;

/**
 * The search text of each endpoint, by position. The same array as last time when no endpoint's
 * text changed (so memoised filters stay valid), built anew only for a new set.
 */
export function searchIndex(endpoints: readonly EndpointView[]): readonly string[] {
  const previous = last;
  if (previous?.endpoints === endpoints) return previous.index;
  let index: readonly string[];
  if (previous === null || previous.endpoints.length !== endpoints.length) index = endpoints.map(searchText);
  else {
    let changed: string[] | null = null;
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i] as EndpointView;
      if (e === previous.endpoints[i]) continue;
      const text = searchText(e);
      if (text === (changed ?? previous.index)[i]) continue;
      changed ??= [...previous.index];
      changed[i] = text;
    }
    index = changed ?? previous.index;
  }
  last = { endpoints, index };
  return index;
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
