/** Human-readable renderings of the contract's views for the terminal. */
import type { EndpointView, EngineState, StatusView } from '../common/contract.ts';
import type { UserFacingError } from '../common/errors.ts';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatError(e: UserFacingError): string {
  const code = e.ngrokCode === undefined ? e.code : `${e.code} ${e.ngrokCode}`;
  return `[${code}] ${e.message}\n    fix: ${e.fix}`;
}

/** The engine's state in the status headline; plain on and off are the common cases. */
const STATE_TEXT: Record<EngineState, string> = {
  running: 'on',
  degraded: 'on, needs attention',
  starting: 'on, registering',
  needs_key: 'not set up (no usable API key)',
  off: 'off',
};

export function formatStatus(s: StatusView): string {
  const lines = [
    `ngrokd ${s.version}: ${STATE_TEXT[s.state]} (${s.mode} mode)`,
    `  registered:  ${s.registered ? `yes, operator ${s.operator_id}` : 'no'}`,
    `  certificate: ${s.cert_not_after === null ? '-' : `valid until ${s.cert_not_after}`}`,
    `  ingress:     ${s.ingress_endpoint}`,
    `  interface:   ${s.interface.name} (${s.interface.kind}), subnet ${s.interface.subnet}`,
    `  hosts file:  ${s.hosts_path ?? 'not managed (set NGROKD_HOSTS_PATH or run with the helper)'}`,
    `  endpoints:   ${s.endpoint_count}`,
    `  traffic:     ${formatBytes(s.totals.bytes_out)} out, ${formatBytes(s.totals.bytes_in)} in, ${s.totals.connections} active connections`,
    `  last poll:   ${s.last_poll_at ?? 'never'}`,
  ];
  if (s.subnet_picked !== undefined)
    lines.push(
      `  subnet:      ${s.subnet_picked.subnet} picked instead of ${s.subnet_picked.instead_of} (${s.subnet_picked.reason})`,
    );
  if (s.errors.length === 0) lines.push('  problems:    none');
  else for (const e of s.errors) lines.push(`  problem:     ${formatError(e)}`);
  // Absent from a daemon older than this CLI.
  for (const w of s.warnings ?? []) lines.push(`  warning:     ${formatError(w)}`);
  return lines.join('\n');
}

/** "12 s ago", "3 min ago", "5 h ago", "2 d ago"; "-" for never. */
export function formatAgo(iso: string | null, now: number): string {
  if (iso === null) return '-';
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}

export function formatEndpoints(endpoints: readonly EndpointView[], now = Date.now()): string {
  if (endpoints.length === 0) return 'No bound endpoints.';
  const rows = endpoints.map((e) => [
    // Absent from a daemon older than this CLI.
    `${e.pinned === true ? '* ' : ''}${e.hostname}`,
    `${e.ip}:${e.listen_port}${e.listen_port === e.port ? '' : ` (for :${e.port})`}`,
    e.proto,
    e.enabled === false
      ? 'disabled'
      : e.listening
        ? 'listening'
        : e.last_error === null
          ? 'pending'
          : 'error',
    `${formatBytes(e.bytes_out)} / ${formatBytes(e.bytes_in)}`,
    String(e.connections),
    // Both absent from a daemon older than this CLI.
    formatAgo(e.last_ok_at ?? null, now),
    e.last_ingress_error ?? '-',
  ]);
  const header = ['HOSTNAME', 'ADDRESS', 'PROTO', 'STATE', 'OUT / IN', 'CONNS', 'LAST OK', 'LAST ERROR'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (r: string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [render(header), ...rows.map(render)].join('\n');
}
