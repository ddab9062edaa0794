import { useState, type FormEvent, type ReactElement } from 'react';
import type { StatusView } from '../../../main/common/contract.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { asUserFacing } from '../bridge/user-facing.ts';
import { presentProblem, type Surface } from '../../../main/common/presentation.ts';
import { KEY_CODES } from './ProblemBanners.tsx';
import { CheckIcon, Logo } from './Icons.tsx';

export type OnboardingStage = 'form' | 'registered';

/** Paste an API key → the engine registers → "Registered" → the endpoint list takes over. */
export function Onboarding(props: {
  stage: OnboardingStage;
  status: StatusView;
  onSubmit: (apiKey: string) => Promise<StatusView>;
  onCancel: (() => void) | null;
  surface: Surface;
}): ReactElement {
  const [apiKey, setApiKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<UserFacingError | null>(null);
  // A rejected key reported by the engine (API_AUTH) is shown until a new key is tried.
  const keyProblem = problem ?? props.status.errors.find((e) => e.code === 'API_AUTH') ?? null;
  const shown = keyProblem === null ? null : presentProblem(keyProblem, props.surface);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setProblem(null);
    try {
      const status = await props.onSubmit(apiKey.trim());
      const rejected = status.errors.find((e) => KEY_CODES.has(e.code));
      if (rejected !== undefined) setProblem(rejected);
      else if (!status.registered && status.last_error !== null) setProblem(status.last_error);
    } catch (err) {
      setProblem(asUserFacing(err));
    } finally {
      setBusy(false);
    }
  };

  if (props.stage === 'registered')
    return (
      <main className="onboarding" aria-labelledby="onboarding-title">
        <div className="onboarding-done" role="status">
          <span className="done-mark" aria-hidden="true">
            <CheckIcon width={28} height={28} />
          </span>
          <h2 id="onboarding-title">Registered</h2>
          <p className="muted">This machine is registered with ngrok. Looking for bound endpoints…</p>
        </div>
      </main>
    );

  return (
    <main className="onboarding" aria-labelledby="onboarding-title">
      <Logo size={48} />
      <h2 id="onboarding-title">Connect your ngrok account</h2>
      <p className="muted onboarding-lead">
        ngrokd gives every Kubernetes bound endpoint of your account a stable local address and hostname on
        this machine.
      </p>
      <form className="onboarding-form" onSubmit={(e) => void submit(e)}>
        <label htmlFor="api-key" className="field-label">
          ngrok API key
        </label>
        <input
          id="api-key"
          className="input"
          type="password"
          autoComplete="off"
          spellCheck={false}
          autoFocus
          placeholder="Paste your API key"
          value={apiKey}
          onChange={(e) => setApiKey(e.target.value)}
          aria-invalid={keyProblem !== null}
          aria-describedby="api-key-help api-key-problem"
        />
        <p id="api-key-help" className="field-help">
          Create one in the{' '}
          <a href="https://dashboard.ngrok.com/api-keys" target="_blank" rel="noreferrer">
            ngrok dashboard
          </a>
          . Only the ngrokd daemon uses it; this window never sees it again.
        </p>
        {/* Always there (the field's description), its message inserted as an alert when it appears. */}
        <div id="api-key-problem" className="onboarding-problem">
          {shown !== null && (
            <div className="inline-error" role="alert">
              <p className="inline-error-message">{shown.title}</p>
              <p className="inline-error-fix">{shown.summary}</p>
            </div>
          )}
        </div>
        <div className="form-actions">
          {props.onCancel !== null && (
            <button type="button" className="button button-quiet" onClick={props.onCancel}>
              Cancel
            </button>
          )}
          <button type="submit" className="button button-primary" disabled={busy || apiKey.trim() === ''}>
            {busy ? 'Registering…' : 'Connect'}
          </button>
        </div>
      </form>
    </main>
  );
}
