/**
 * Live per-endpoint counters. They are bumped on every chunk of every connection, so they are plain
 * number fields; all derived values (p50, the snapshot) are computed only when someone reads them.
 */
import { toUserFacing, type UserFacingError } from '../../common/errors.ts';
import type { EndpointView } from '../../common/contract.ts';

/** The counter fields of EndpointView, in its wire names. */
export type CounterSnapshot = Pick<
  EndpointView,
  | 'bytes_in'
  | 'bytes_out'
  | 'connections'
  | 'connections_total'
  | 'errors'
  | 'last_error'
  | 'upgrade_ms_p50'
  | 'last_ok_at'
  | 'last_ingress_error'
>;

/** How many recent upgrade latencies the median is taken over. */
export const UPGRADE_SAMPLES = 256;

export class EndpointCounters {
  /** Bytes received from the ingress (delivered to local clients). */
  bytesIn = 0;
  /** Bytes sent to the ingress. */
  bytesOut = 0;
  /** Connections currently open. */
  active = 0;
  total = 0;
  errors = 0;
  /** The current failure: cleared by the next successful upgrade. */
  lastError: UserFacingError | null = null;
  /**
   * The code of the last failure, kept after a success so a user sees what last went wrong: the
   * ngrok code of a refused ConnResponse (ERR_NGROK_…), or ours (INGRESS_RESET, …) without one.
   */
  lastIngressError: string | null = null;
  /** Epoch ms of the last successful upgrade, 0 before the first. */
  lastUpgradeAt = 0;
  /** HTTP/2 prior-knowledge connections, forwarded without a Host (:authority) rewrite. */
  h2cConnections = 0;
  /** Connections whose bytes after an Upgrade or CONNECT overflowed the hold before the answer. */
  upgradeHoldOverflows = 0;
  /** Connections closed by `connections.idle_timeout`. */
  idleTimeouts = 0;
  /** Failures by code (the ngrok code when the ingress gave one), for metrics; null before the first. */
  errorsByCode: Map<string, number> | null = null;

  /** Allocated on the first upgrade: most of 10,000 endpoints never see a connection. */
  private samples: Float64Array | null = null;
  private sampleCount = 0;
  private nextSample = 0;

  connectionOpened(): void {
    this.active++;
    this.total++;
  }

  connectionClosed(): void {
    this.active--;
  }

  /** Time from accepting a local connection to the ingress's ConnResponse; clears the last error. */
  recordUpgrade(ms: number): void {
    // A working connection means the last failure is no longer current (`errors` keeps the count).
    this.lastError = null;
    this.lastUpgradeAt = Date.now();
    this.samples ??= new Float64Array(UPGRADE_SAMPLES);
    this.samples[this.nextSample] = ms;
    this.nextSample = (this.nextSample + 1) % UPGRADE_SAMPLES;
    if (this.sampleCount < UPGRADE_SAMPLES) this.sampleCount++;
  }

  recordError(err: unknown): UserFacingError {
    this.errors++;
    this.lastError = toUserFacing(err, 'INGRESS_UNREACHABLE');
    this.lastIngressError = this.lastError.ngrokCode ?? this.lastError.code;
    this.errorsByCode ??= new Map();
    this.errorsByCode.set(this.lastIngressError, (this.errorsByCode.get(this.lastIngressError) ?? 0) + 1);
    return this.lastError;
  }

  /** Median of the recent upgrade latencies, ms (rounded to 0.1 ms), or null before the first one. */
  upgradeP50(): number | null {
    if (this.samples === null || this.sampleCount === 0) return null;
    const sorted = this.samples.slice(0, this.sampleCount).sort();
    const mid = sorted.length >> 1;
    const median =
      sorted.length % 2 === 1
        ? (sorted[mid] as number)
        : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
    return Math.round(median * 10) / 10;
  }

  snapshot(): CounterSnapshot {
    return {
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      connections: this.active,
      connections_total: this.total,
      errors: this.errors,
      last_error: this.lastError,
      upgrade_ms_p50: this.upgradeP50(),
      last_ok_at: this.lastUpgradeAt === 0 ? null : new Date(this.lastUpgradeAt).toISOString(),
      last_ingress_error: this.lastIngressError,
    };
  }
}
