/**
 * Every current problem as the user's surface says it (main/common/presentation.ts): a plain title,
 * what to do, the app's own button for it, and the technical text behind "Details" with "Copy
 * diagnostics". Each banner is announced when it appears (role=alert on the new element; warnings
 * role=status), so nothing depends on a live region that existed before.
 */
import { useState, type ReactElement } from 'react';
import type { UserFacingError } from '../../../main/common/errors.ts';
import {
  presentProblem,
  type ProblemAction,
  type ProblemActionKind,
  type Surface,
} from '../../../main/common/presentation.ts';
import { AlertIcon } from './Icons.tsx';

/** Errors whose fix is a new API key. */
export const KEY_CODES: ReadonlySet<string> = new Set(['API_KEY_MISSING', 'API_AUTH']);

export const DASHBOARD_URL = 'https://dashboard.ngrok.com';

const SHOWN = 2;

/** The same problem reported twice (a link lost and a command that failed for it) shows once. */
export function distinctProblems(errors: readonly UserFacingError[]): UserFacingError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = e.code === 'NOT_RUNNING' ? e.code : `${e.code}\u0000${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function ActionButton(props: {
  action: ProblemAction;
  onAction: (kind: ProblemActionKind) => void;
}): ReactElement {
  if (props.action.kind === 'open-dashboard')
    return (
      <a className="button button-small" href={DASHBOARD_URL} target="_blank" rel="noreferrer">
        {props.action.label}
      </a>
    );
  return (
    <button type="button" className="button button-small" onClick={() => props.onAction(props.action.kind)}>
      {props.action.label}
    </button>
  );
}

export interface ProblemBannersProps {
  errors: readonly UserFacingError[];
  surface: Surface;
  onAction: (kind: ProblemActionKind) => void;
  /** Copies the details with the app's version and mode. */
  onCopyDiagnostics: (details: string) => void;
  kind?: 'problem' | 'warning';
}

export function ProblemBanners(props: ProblemBannersProps): ReactElement {
  const [expanded, setExpanded] = useState(false);
  const errors = distinctProblems(props.errors);
  const visible = expanded ? errors : errors.slice(0, SHOWN);
  const hidden = errors.length - visible.length;
  const noun = props.kind ?? 'problem';
  return (
    <section className="banners" aria-label={noun === 'warning' ? 'Warnings' : 'Problems'}>
      {visible.map((error) => {
        const shown = presentProblem(error, props.surface);
        return (
          <div
            className={`banner banner-${noun}`}
            role={noun === 'warning' ? 'status' : 'alert'}
            aria-label={shown.title}
            key={`${error.code}:${error.message}`}
          >
            <AlertIcon className="banner-icon" />
            <div className="banner-body">
              <p className="banner-title">{shown.title}</p>
              <p className="banner-summary">{shown.summary}</p>
              <div className="banner-actions">
                {shown.action !== null && <ActionButton action={shown.action} onAction={props.onAction} />}
              </div>
              <details className="banner-details">
                <summary>Details</summary>
                {/* Focusable: it scrolls when long, and the keyboard must reach it. */}
                <pre className="banner-details-text" tabIndex={0} aria-label={`Details of ${shown.title}`}>
                  {shown.details}
                </pre>
                <button
                  type="button"
                  className="link-button"
                  onClick={() => props.onCopyDiagnostics(shown.details)}
                >
                  Copy diagnostics
                </button>
              </details>
            </div>
          </div>
        );
      })}
      {errors.length > SHOWN && (
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
