import { useEffect, useRef, useState, type ReactElement } from 'react';
import type { StatusView } from '../../../../main/common/contract.ts';
import type { NgrokdBridge } from '../../../../main/common/bridge.ts';
import type { Surface } from '../../../../main/common/presentation.ts';
import { asUserFacing } from '../../bridge/user-facing.ts';
import { ActionStatus, type Outcome } from './ActionStatus.tsx';

function registration(status: StatusView): string {
  if (status.registered) return 'Connected: this machine is registered with ngrok.';
  if (status.state === 'needs_key') return 'Not connected: no API key that ngrok accepts.';
  return 'Connecting: this machine is not registered yet.';
}

/** The ngrok account: who this machine is registered as, a new API key, and signing out (with a confirm step). */
export function AccountSection(props: {
  bridge: NgrokdBridge;
  status: StatusView;
  surface: Surface;
  onChangeKey: () => void;
  onSignedOut: () => void;
}): ReactElement {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const signOutRef = useRef<HTMLButtonElement>(null);
  const wasConfirming = useRef(false);

  useEffect(() => {
    if (confirming) confirmRef.current?.focus();
    else if (wasConfirming.current) signOutRef.current?.focus();
    wasConfirming.current = confirming;
  }, [confirming]);

  const signOut = async (): Promise<void> => {
    if (busy) return;
    setBusy(true);
    setOutcome(null);
    try {
      await props.bridge.invoke('logout', {});
      props.onSignedOut();
    } catch (err) {
      setOutcome({ ok: false, error: asUserFacing(err) });
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="group" aria-labelledby="account-title">
      <h3 className="group-title" id="account-title">
        Account
      </h3>
      <p className="section-line">{registration(props.status)}</p>
      {props.status.operator_id !== null && (
        <p className="section-line muted">
          Registration <span className="mono">{props.status.operator_id}</span>
        </p>
      )}
      {confirming ? (
        <div className="confirm" role="group" aria-labelledby="sign-out-question">
          <p id="sign-out-question">
            Sign out? This machine’s registration is deleted from your ngrok account and its endpoints stop
            working here until you connect again.
          </p>
          <div className="form-actions">
            <button type="button" className="button button-quiet" onClick={() => setConfirming(false)}>
              Cancel
            </button>
            <button
              type="button"
              className="button button-danger"
              ref={confirmRef}
              aria-disabled={busy ? true : undefined}
              onClick={() => void signOut()}
            >
              {busy ? 'Signing out…' : 'Sign out'}
            </button>
          </div>
        </div>
      ) : (
        <div className="section-actions">
          <button type="button" className="button button-small" onClick={props.onChangeKey}>
            Change API key…
          </button>
          {props.status.registered && (
            <button
              type="button"
              className="button button-small"
              ref={signOutRef}
              onClick={() => setConfirming(true)}
            >
              Sign out…
            </button>
          )}
        </div>
      )}
      <ActionStatus outcome={outcome} surface={props.surface} />
    </section>
  );
}
