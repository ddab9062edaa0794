/**
 * The engine's current problems: one per source, replaced when the source fails again and removed
 * when it recovers. `status` lists them (with the ingress's, see status-view.ts).
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
  | 'ipam';

export class Problems {
  readonly #bySource = new Map<ProblemSource, UserFacingError>();

  /** What `source` threw, as a user-facing error. */
  fail(source: ProblemSource, err: unknown): void {
    this.#bySource.set(source, toUserFacing(err));
  }

  /** An error that is a user-facing value already. */
  set(source: ProblemSource, error: UserFacingError): void {
    this.#bySource.set(source, error);
  }

  clear(source: ProblemSource): void {
    this.#bySource.delete(source);
  }

  has(source: ProblemSource): boolean {
    return this.#bySource.has(source);
  }

  get(source: ProblemSource): UserFacingError | undefined {
    return this.#bySource.get(source);
  }

  list(): UserFacingError[] {
    return [...this.#bySource.values()];
  }
}
