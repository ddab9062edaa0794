/**
 * Many endpoints for UI load tests and benchmarks: `svc-<i>.team-<i % 40>`, a mix of http, tcp and
 * tls, addresses in 127.150.0.0/16. `overrides` sets fields on every one (e.g. a last success).
 */
import type { EndpointView } from '../../main/common/contract.ts';

export function syntheticEndpoints(count: number, overrides: Partial<EndpointView> = {}): EndpointView[] {
  const protos = ['http', 'tcp', 'tls'] as const;
  return Array.from({ length: count }, (_, i) => {
    const proto = protos[i % 3] as (typeof protos)[number];
    const hostname = `svc-${i}.team-${i % 40}`;
    const port = proto === 'http' ? 80 : proto === 'tcp' ? 5432 : 443;
    return {
      id: `ep_${i}`,
      ids: [`ep_${i}`],
      url: `${proto}://${hostname}:${port}`,
      proto,
      hostname,
      ip: `127.150.${Math.floor(i / 250)}.${(i % 250) + 2}`,
      port,
      listen_port: port,
      listening: true,
      enabled: true,
      pinned: false,
      bytes_in: i * 10,
      bytes_out: i * 3,
      connections: 0,
      connections_total: i,
      errors: 0,
      last_error: null,
      upgrade_ms_p50: null,
      last_ok_at: null,
      last_ingress_error: null,
      ...overrides,
    };
  });
}
