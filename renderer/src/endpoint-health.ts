/**
 * What a row says about one endpoint, from what is actually known: whether it listens, its current
 * problem, the last connection the ingress accepted and the last one it refused. A row is green
 * only when nothing says otherwise, so a dead endpoint never looks healthy.
 */
import type { EndpointView } from '../../main/common/contract.ts';
import { ERROR_CODES } from '../../main/common/errors.ts';

export type HealthTone = 'ok' | 'warning' | 'error' | 'off';

export interface EndpointHealth {
  tone: HealthTone;
  /** Plain words for the row when it is not ok; null when it is. */
  problem: string | null;
}

export function endpointHealth(e: EndpointView): EndpointHealth {
  // Turned off on purpose: not a problem, but it does not answer either.
  if (e.enabled === false) return { tone: 'off', problem: 'Turned off' };
  if (!e.listening)
    return {
      tone: 'error',
      problem: e.last_error === null ? 'Not listening' : ERROR_CODES[e.last_error.code],
    };
  if (e.last_error !== null) return { tone: 'warning', problem: ERROR_CODES[e.last_error.code] };
  if (e.errors > 0 && e.last_ok_at === null)
    return { tone: 'warning', problem: 'No connection has got through yet' };
  return { tone: 'ok', problem: null };
}

/** "for :80": the endpoint's own port, when user mode listens on another one (as the CLI says). */
export function portNote(e: Pick<EndpointView, 'port' | 'listen_port'>): string | null {
  return e.listen_port === e.port ? null : `for :${e.port}`;
}

const DEFAULT_PORT: Partial<Record<EndpointView['proto'], number>> = { http: 80, https: 443 };

/**
 * The URL a client on this machine uses: the hostname (which the hosts file points at the local
 * address) with the port actually listened on, e.g. http://checkout.shop:10080/ in user mode.
 */
export function localUrl(e: Pick<EndpointView, 'proto' | 'hostname' | 'listen_port'>): string {
  const web = e.proto === 'http' || e.proto === 'https';
  const port = web && DEFAULT_PORT[e.proto] === e.listen_port ? '' : `:${e.listen_port}`;
  return `${e.proto}://${e.hostname}${port}${web ? '/' : ''}`;
}
