/** Human units for the compact UI (SI: 1 KB = 1000 bytes). */
const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

export function formatBytes(bytes: number): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond < 1 ? 0 : bytesPerSecond)}/s`;
}

/** "in 3 days", "12 s ago": short relative times for the details list. */
export function formatRelative(iso: string | null, now: number): string {
  if (iso === null) return '—';
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff) / 1000;
  const [value, unit] =
    abs < 60
      ? [abs, 's']
      : abs < 3600
        ? [abs / 60, 'min']
        : abs < 86_400
          ? [abs / 3600, 'h']
          : [abs / 86_400, abs / 86_400 >= 2 ? 'days' : 'day'];
  const text = `${Math.round(value)} ${unit}`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

/** Where a client connects: the listen port, which differs from the endpoint's port in user mode. */
export function localAddress(e: { ip: string; listen_port: number }): string {
  return `${e.ip}:${e.listen_port}`;
}
