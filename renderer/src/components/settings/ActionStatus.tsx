import type { ReactElement } from 'react';
import type { UserFacingError } from '../../../../main/common/errors.ts';
import { presentProblem, type Surface } from '../../../../main/common/presentation.ts';

/** What a section's last command did: a sentence for success, the problem's plain words for failure. */
export type Outcome = { ok: true; message: string } | { ok: false; error: UserFacingError } | null;

export function ActionStatus(props: {
  outcome: Outcome;
  surface: Surface;
  id?: string;
}): ReactElement | null {
  const { outcome } = props;
  if (outcome === null) return null;
  if (outcome.ok)
    return (
      <p className="section-status" role="status" id={props.id}>
        {outcome.message}
      </p>
    );
  const shown = presentProblem(outcome.error, props.surface);
  return (
    <div className="inline-error" role="alert" id={props.id}>
      <p className="inline-error-message">{shown.title}</p>
      <p className="inline-error-fix">{shown.summary}</p>
    </div>
  );
}
