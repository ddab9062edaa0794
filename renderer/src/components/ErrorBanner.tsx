import type { ReactElement } from 'react';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { plainText } from '../../../main/common/presentation.ts';

/** A failed command of a view (requests, diagnostics): its sentence and its fix, as one alert. */
export function ErrorBanner({ error }: { error: UserFacingError }): ReactElement {
  return (
    <div className="banner banner-problem" role="alert">
      <div className="banner-body">
        <p className="banner-title">{error.message}</p>
        <p className="banner-summary">{plainText(error.fix)}</p>
      </div>
    </div>
  );
}
