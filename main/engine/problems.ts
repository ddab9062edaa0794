/**
 * The engine's current problems: one per source, replaced when the source fails again and removed
 * when it recovers. `status` lists them (with the ingress's, see status-view.ts).
 */
import { toUserFacing, type UserFacingError } from '../common/errors.ts';

export type ProblemSource = 'helper' | 'config' | 'api' | 'discovery' | 'interface' | 'hosts' | 'ipam';

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

  list(): UserFacingError[] {
    return [...this.#bySource.values()];
  }
}
