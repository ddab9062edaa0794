/**
 * The engine's current problems: one per source, replaced when the source fails again and removed
 * when it recovers. `status` lists them (with the ingress's, see status-view.ts): errors in
 * `errors` (the state is degraded), warnings in `warnings` (something to know or to fix before it
 * becomes an error, e.g. a failed certificate renewal with days left; the state stays as it is).
 */
import { toUserFacing, type UserFacingError } from '../common/errors.ts';

export type ProblemSource =
  | 'helper'
  | 'config'
  | 'api'
  | 'discovery'
  | 'interface'
  /** The subnet overlaps a network of this machine (a VPN, a Docker network): reconciler.ts. */
  | 'network'
  | 'hosts'
  | 'ipam'
  /** Renewing the client certificate failed, or it expired: api/renewal.ts. */
  | 'certificate'
  /** Polls are held back by the client-side API budget: api/budget.ts, reconciler.ts. */
  | 'budget';

export type Severity = 'error' | 'warning';

export class Problems {
  readonly #bySource = new Map<ProblemSource, { problem: UserFacingError; severity: Severity }>();

  /** What `source` threw, as a user-facing error. */
  fail(source: ProblemSource, err: unknown): void {
    this.set(source, toUserFacing(err));
  }

  /** A problem that is a user-facing value already; an error unless said otherwise. */
  set(source: ProblemSource, problem: UserFacingError, severity: Severity = 'error'): void {
    this.#bySource.set(source, { problem, severity });
  }

  clear(source: ProblemSource): void {
    this.#bySource.delete(source);
  }

  has(source: ProblemSource): boolean {
    return this.#bySource.has(source);
  }

  /** The current problem of `source`, whatever its severity. */
  get(source: ProblemSource): UserFacingError | undefined {
    return this.#bySource.get(source)?.problem;
  }

  severity(source: ProblemSource): Severity | undefined {
    return this.#bySource.get(source)?.severity;
  }

  /** The errors. */
  list(): UserFacingError[] {
    return this.#of('error');
  }

  warnings(): UserFacingError[] {
    return this.#of('warning');
  }

  #of(severity: Severity): UserFacingError[] {
    const out: UserFacingError[] = [];
    for (const entry of this.#bySource.values()) if (entry.severity === severity) out.push(entry.problem);
    return out;
  }
}
