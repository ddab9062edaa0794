/**
 * What `status`, `list` and the state feed show, as pure functions of the engine's state: the
 * endpoint views, the status view and the one derivation of the engine's state
 * (needs_key / starting / running / degraded / off) that the CLI, the tray and the UI all read.
 */
import type { EndpointView, EngineState, StatusView, SubnetChoice } from '../common/contract.ts';
import type { UserFacingError } from '../common/errors.ts';
import type { InterfaceInfo, PrivilegeMode } from '../common/privileged.ts';
import type { DesiredEndpoint } from './api/discovery.ts';
import type { CounterSnapshot } from './forwarder/counters.ts';

/** What the status view needs of an endpoint the reconciler keeps. */
export interface EndpointFacts {
  desired: DesiredEndpoint;
  ip: string;
  listenPort: number;
  /** The listener's counters, or null when it is not listening. */
  counters: CounterSnapshot | null;
  /** Why it is not listening, when it is not. */
  problem: UserFacingError | null;
  /** False when the user turned it off (no listener, no hosts line, by choice). */
  enabled: boolean;
}

/** What the status view needs of the engine. */
export interface StatusFacts {
  version: string;
  enabled: boolean;
  operator: { operatorId: string; notAfter: Date } | null;
  ingress: string;
  mode: PrivilegeMode;
  interface: InterfaceInfo;
  hostsPath: string | null;
  /** The subnet root mode picked instead of the default, or null (absent: none). */
  subnetPicked?: SubnetChoice | null;
  lastPollAt: string | null;
  /** The engine's own current errors, one per source. */
  errors: readonly UserFacingError[];
  /** The engine's current warnings, one per source (they leave the state as it is). */
  warnings?: readonly UserFacingError[];
}

/** Errors of the shared ingress: one endpoint's is everybody's until a connection gets through. */
const INGRESS_CODES = new Set([
  'INGRESS_UNTRUSTED',
  'CLIENT_CERT_REJECTED',
  'INGRESS_UNREACHABLE',
  'INGRESS_RESET',
]);
/** Errors only a (new) API key fixes. */
const KEY_CODES = new Set(['API_KEY_MISSING', 'API_AUTH']);

export function endpointView(e: EndpointFacts, pinned = false): EndpointView {
  const counters = e.counters;
  return {
    id: e.desired.ids[0] ?? '',
    ids: e.desired.ids,
    url: e.desired.url,
    proto: e.desired.address.proto,
    hostname: e.desired.address.hostname,
    ip: e.ip,
    port: e.desired.address.port,
    listen_port: e.listenPort,
    listening: counters !== null,
    enabled: e.enabled,
    pinned,
    bytes_in: counters?.bytes_in ?? 0,
    bytes_out: counters?.bytes_out ?? 0,
    connections: counters?.connections ?? 0,
    connections_total: counters?.connections_total ?? 0,
    errors: counters?.errors ?? 0,
    last_error: e.problem ?? counters?.last_error ?? null,
    upgrade_ms_p50: counters?.upgrade_ms_p50 ?? null,
    last_ok_at: counters?.last_ok_at ?? null,
    last_ingress_error: counters?.last_ingress_error ?? null,
  };
}

/** Every endpoint's view: the pinned ones (hostnames in `pinned`) first, each group sorted by URL. */
export function endpointViews(
  endpoints: Iterable<EndpointFacts>,
  pinned: ReadonlySet<string> = new Set(),
): EndpointView[] {
  return Array.from(endpoints, (e) => endpointView(e, pinned.has(e.desired.address.hostname))).sort(
    (a, b) => Number(b.pinned) - Number(a.pinned) || a.url.localeCompare(b.url),
  );
}

/**
 * The engine's state, from what it knows: nothing works without a key; off is the user's choice;
 * any current problem (or an endpoint that is not listening) is degraded; on and not registered
 * yet is starting.
 */
export function engineState(facts: {
  enabled: boolean;
  registered: boolean;
  errors: readonly UserFacingError[];
  /** Endpoints that should be listening and are not. */
  endpointsDown: number;
}): EngineState {
  if (!facts.registered && facts.errors.some((e) => KEY_CODES.has(e.code))) return 'needs_key';
  if (!facts.enabled) return 'off';
  if (facts.errors.length > 0 || facts.endpointsDown > 0) return 'degraded';
  return facts.registered ? 'running' : 'starting';
}

/**
 * The status view. Besides the engine's own errors it lists the shared ingress's current failure
 * (once per code), which stops being current once any endpoint got through after it
 * (`lastUpgradeAt`: when a connection last got through, 0 for never).
 */
export function statusView(
  facts: StatusFacts,
  endpoints: readonly EndpointView[],
  lastUpgradeAt: number,
): StatusView {
  const errors = [...facts.errors];
  const seen = new Set(errors.map((e) => e.code));
  for (const e of endpoints) {
    const err = e.last_error;
    const current = err !== null && Date.parse(err.at ?? '') > lastUpgradeAt;
    if (err !== null && current && INGRESS_CODES.has(err.code) && !seen.has(err.code)) {
      errors.push(err);
      seen.add(err.code);
    }
  }
  errors.sort((a, b) => (b.at ?? '').localeCompare(a.at ?? ''));
  const totals = { bytes_in: 0, bytes_out: 0, connections: 0 };
  for (const e of endpoints) {
    totals.bytes_in += e.bytes_in;
    totals.bytes_out += e.bytes_out;
    totals.connections += e.connections;
  }
  const registered = facts.operator !== null;
  return {
    version: facts.version,
    state: engineState({
      enabled: facts.enabled,
      registered,
      errors,
      // One turned off by the user is not down.
      endpointsDown: endpoints.filter((e) => !e.listening && e.enabled !== false).length,
    }),
    enabled: facts.enabled,
    registered,
    operator_id: facts.operator?.operatorId ?? null,
    ingress_endpoint: facts.ingress,
    mode: facts.mode,
    interface: { name: facts.interface.name, kind: facts.interface.kind, subnet: facts.interface.subnet },
    ...(facts.subnetPicked ? { subnet_picked: facts.subnetPicked } : {}),
    endpoint_count: endpoints.length,
    hosts_path: facts.hostsPath,
    cert_not_after: facts.operator?.notAfter.toISOString() ?? null,
    last_poll_at: facts.lastPollAt,
    last_error: errors[0] ?? null,
    errors,
    warnings: [...(facts.warnings ?? [])].sort((a, b) => (b.at ?? '').localeCompare(a.at ?? '')),
    totals,
  };
}

/**
 * `status` with problems from outside the engine (the desktop shell's, e.g. an unencrypted key
 * store) appended, and the state derived again with them: they never make it better, and an
 * engine that was degraded by its endpoints stays degraded.
 */
export function withOutsideProblems(status: StatusView, problems: readonly UserFacingError[]): StatusView {
  if (problems.length === 0) return status;
  const errors = [...status.errors, ...problems];
  const state = engineState({
    enabled: status.enabled,
    registered: status.registered,
    errors,
    endpointsDown: status.state === 'degraded' ? 1 : 0,
  });
  return { ...status, state, errors, last_error: status.last_error ?? errors[0] ?? null };
}
