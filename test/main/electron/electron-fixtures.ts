/** State snapshots for the desktop shell's unit tests. */
import type { EndpointView, Settings, StateSnapshot, StatusView } from '../../../main/common/contract.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { engineState } from '../../../main/engine/status-view.ts';

export function endpoint(hostname: string, overrides: Partial<EndpointView> = {}): EndpointView {
  const port = overrides.port ?? 80;
  return {
    id: `ep_${hostname}`,
    ids: [`ep_${hostname}`],
    url: `http://${hostname}${port === 80 ? '' : `:${port}`}`,
    proto: 'http',
    hostname,
    ip: '10.107.0.2',
    port,
    listen_port: port,
    listening: true,
    enabled: true,
    pinned: false,
    bytes_in: 0,
    bytes_out: 0,
    connections: 0,
    connections_total: 0,
    errors: 0,
    last_error: null,
    upgrade_ms_p50: null,
    last_ok_at: null,
    last_ingress_error: null,
    ...overrides,
  };
}

/** A snapshot; `state` follows from the rest (as the engine derives it) unless given. */
export function snapshot(endpoints: EndpointView[], status: Partial<StatusView> = {}): StateSnapshot {
  const errors: UserFacingError[] = status.errors ?? [];
  const state = engineState({
    enabled: status.enabled ?? true,
    registered: status.registered ?? true,
    errors,
    endpointsDown: endpoints.filter((e) => !e.listening).length,
  });
  return {
    endpoints,
    status: {
      version: '0.1.0',
      enabled: true,
      registered: true,
      operator_id: 'k8sop_1',
      ingress_endpoint: 'kubernetes-binding-ingress.ngrok.io:443',
      mode: 'helper',
      interface: { name: 'ngrokd0', kind: 'dummy', subnet: '10.107.0.0/16' },
      endpoint_count: endpoints.length,
      hosts_path: '/etc/hosts',
      cert_not_after: null,
      last_poll_at: '2025-01-01T00:00:00.000Z',
      last_error: errors[0] ?? null,
      totals: { bytes_in: 0, bytes_out: 0, connections: 0 },
      ...status,
      state: status.state ?? state,
      errors,
      warnings: status.warnings ?? [],
    },
  };
}

export const PLAN_GATE: UserFacingError = {
  code: 'PLAN_GATE',
  message: 'Kubernetes Operators and Bindings not enabled for this account (ERR_NGROK_19002)',
  fix: 'Ask ngrok to enable bindings on your plan.',
};

/** What an engine's getSettings answers (no desktop fields), with `overrides`. */
export function engineSettings(overrides: Partial<Settings> = {}): Settings {
  return {
    poll_interval: 30,
    selectors: ['true'],
    subnet: '10.107.0.0/16',
    subnet_in_use: '10.107.0.0/16',
    ingress_ca: null,
    interface_name: 'ngrokd0',
    launch_at_login: false,
    notifications: false,
    desktop: false,
    restart_required: false,
    ...overrides,
  };
}
