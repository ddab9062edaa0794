import { useState, type ReactElement } from 'react';
import { ERROR_CODES, type UserFacingError } from '../../../main/common/errors.ts';
import { AlertIcon, KeyIcon } from './Icons.tsx';

/** Errors whose fix is a new API key: their banner offers the key form. */
export const KEY_CODES: ReadonlySet<string> = new Set(['API_KEY_MISSING', 'API_AUTH']);

const SHOWN = 2;
/** Beyond this many characters the message and fix fold to two lines each. */
const FOLD_CHARS = 110;

function title(error: UserFacingError): string {
  return ERROR_CODES[error.code] ?? error.code;
}

/**
 * Every current problem a user can act on: what is wrong (naming the value) and the fix. With
 * `kind="warning"` the same for warnings (status.warnings: a failed certificate renewal with the
 * time left, polls held back by the API budget), announced politely rather than at once.
 */
export function ErrorBanners(props: {
  errors: readonly UserFacingError[];
  /** Offers the key form on errors only a new API key fixes. */
  onEnterKey?: () => void;
  kind?: 'problem' | 'warning';
}): ReactElement {
  const [expanded, setExpanded] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const visible = expanded ? props.errors : props.errors.slice(0, SHOWN);
  const hidden = props.errors.length - visible.length;
  const noun = props.kind ?? 'problem';
  return (
    <section
      className="banners"
      aria-live={noun === 'warning' ? 'polite' : 'assertive'}
      aria-label={noun === 'warning' ? 'Warnings' : 'Problems'}
    >
      {visible.map((error) => {
        const key = `${error.code}:${error.message}`;
        const full = open === key;
        const long = error.message.length + error.fix.length > FOLD_CHARS;
        return (
          <div
            className={full || !long ? 'banner banner-open' : 'banner'}
            role="group"
            aria-label={title(error)}
            key={key}
          >
            <AlertIcon className="banner-icon" />
            <div className="banner-body">
              <p className="banner-title">
                {title(error)}
                {error.ngrokCode !== undefined && <span className="banner-code">{error.ngrokCode}</span>}
              </p>
              <p className="banner-message">{error.message}</p>
              {error.fix !== '' && <p className="banner-fix">{error.fix}</p>}
              <div className="banner-actions">
                {KEY_CODES.has(error.code) && props.onEnterKey !== undefined && (
                  <button type="button" className="button button-small" onClick={props.onEnterKey}>
                    <KeyIcon width={13} height={13} /> Enter API key
                  </button>
                )}
                {long && (
                  <button
                    type="button"
                    className="link-button"
                    aria-expanded={full}
                    onClick={() => setOpen(full ? null : key)}
                  >
                    {full ? 'Less' : 'Show all'}
                  </button>
                )}
              </div>
            </div>
          </div>
        );
      })}
      {(hidden > 0 || expanded) && props.errors.length > SHOWN && (
        <button
          type="button"
          className="link-button"
          aria-expanded={expanded}
          onClick={() => setExpanded(!expanded)}
        >
          {expanded ? `Show fewer ${noun}s` : `Show ${hidden} more ${noun}${hidden === 1 ? '' : 's'}`}
        </button>
      )}
    </section>
  );
}
