import { useEffect, useState, type FormEvent, type ReactElement } from 'react';
import type { Settings, SettingsPatch, StatusView } from '../../../main/common/contract.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import type { NgrokdBridge } from '../../../main/common/bridge.ts';
import { asUserFacing } from '../bridge/user-facing.ts';
import { formatRelative } from '../format.ts';
import { BackIcon, CheckIcon } from './Icons.tsx';
import { Switch } from './Switch.tsx';

interface Draft {
  poll_interval: string;
  selectors: string;
  subnet: string;
  interface_name: string;
  launch_at_login: boolean;
  notifications: boolean;
  traffic_title: boolean;
}

function draftOf(s: Settings): Draft {
  return {
    poll_interval: String(s.poll_interval),
    selectors: s.selectors.join('\n'),
    subnet: s.subnet,
    interface_name: s.interface_name,
    launch_at_login: s.launch_at_login,
    notifications: s.notifications,
    traffic_title: s.traffic_title === true,
  };
}

/** Only what changed, so an untouched field never fails validation or needs a restart. */
function patchOf(saved: Settings, d: Draft): SettingsPatch {
  const patch: SettingsPatch = {};
  const poll = Number(d.poll_interval);
  if (d.poll_interval.trim() !== String(saved.poll_interval)) patch.poll_interval = poll;
  const selectors = d.selectors
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (selectors.join('\n') !== saved.selectors.join('\n')) patch.selectors = selectors;
  if (d.subnet.trim() !== saved.subnet) patch.subnet = d.subnet.trim();
  if (d.interface_name.trim() !== saved.interface_name) patch.interface_name = d.interface_name.trim();
  if (saved.desktop && d.launch_at_login !== saved.launch_at_login) patch.launch_at_login = d.launch_at_login;
  if (saved.desktop && d.notifications !== saved.notifications) patch.notifications = d.notifications;
  if (saved.traffic_title !== undefined && d.traffic_title !== saved.traffic_title)
    patch.traffic_title = d.traffic_title;
  return patch;
}

function Details({ status }: { status: StatusView }): ReactElement {
  const now = Date.now();
  const rows: [string, string][] = [
    ['Version', status.version],
    [
      'Mode',
      status.mode === 'user'
        ? 'User mode (no admin rights)'
        : status.mode === 'helper'
          ? 'Privileged helper'
          : 'Root',
    ],
    ['Interface', `${status.interface.name} (${status.interface.kind}) · ${status.interface.subnet}`],
    ['Hosts file', status.hosts_path ?? 'not managed'],
    ['Registration', status.operator_id ?? 'not registered'],
    [
      'Certificate',
      status.cert_not_after === null ? '—' : `expires ${formatRelative(status.cert_not_after, now)}`,
    ],
    ['Ingress', status.ingress_endpoint],
    ['Last poll', formatRelative(status.last_poll_at, now)],
  ];
  return (
    <dl className="details">
      {rows.map(([k, v]) => (
        <div className="details-row" key={k}>
          <dt>{k}</dt>
          <dd title={v}>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function SettingsView(props: {
  bridge: NgrokdBridge;
  status: StatusView;
  onBack: () => void;
}): ReactElement {
  const { bridge } = props;
  const [saved, setSaved] = useState<Settings | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [problem, setProblem] = useState<UserFacingError | null>(null);
  const [busy, setBusy] = useState(false);
  const [justSaved, setJustSaved] = useState(false);

  useEffect(() => {
    let live = true;
    bridge.invoke('getSettings', {}).then(
      (s) => {
        if (!live) return;
        setSaved(s);
        setDraft(draftOf(s));
      },
      (err: unknown) => live && setProblem(asUserFacing(err)),
    );
    return () => {
      live = false;
    };
  }, [bridge]);

  const patch = saved !== null && draft !== null ? patchOf(saved, draft) : {};
  const dirty = Object.keys(patch).length > 0;
  const edit = (change: Partial<Draft>): void => {
    setJustSaved(false);
    setDraft((d) => (d === null ? d : { ...d, ...change }));
  };

  const save = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (!dirty || busy) return;
    setBusy(true);
    setProblem(null);
    try {
      const next = await bridge.invoke('updateSettings', patch);
      setSaved(next);
      setDraft(draftOf(next));
      setJustSaved(true);
    } catch (err) {
      setProblem(asUserFacing(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="settings" aria-labelledby="settings-title">
      <div className="subheader">
        <button type="button" className="icon-button" aria-label="Back to endpoints" onClick={props.onBack}>
          <BackIcon />
        </button>
        <h2 id="settings-title">Settings</h2>
      </div>
      {draft === null || saved === null ? (
        problem === null ? (
          <p className="muted settings-loading">Loading…</p>
        ) : null
      ) : (
        <form className="settings-form" onSubmit={(e) => void save(e)}>
          <fieldset className="group">
            <legend>Discovery</legend>
            <label className="field">
              <span className="field-label">Poll interval</span>
              <span className="input-with-unit">
                <input
                  className="input"
                  type="number"
                  min={0.05}
                  step="any"
                  inputMode="decimal"
                  value={draft.poll_interval}
                  onChange={(e) => edit({ poll_interval: e.target.value })}
                />
                <span className="unit">seconds</span>
              </span>
            </label>
            <label className="field">
              <span className="field-label">Endpoint selectors</span>
              <textarea
                className="input textarea mono"
                rows={2}
                spellCheck={false}
                value={draft.selectors}
                onChange={(e) => edit({ selectors: e.target.value })}
                aria-describedby="selectors-help"
              />
              <span id="selectors-help" className="field-help">
                One CEL expression per line; ngrok evaluates them. <span className="mono">true</span> binds
                every endpoint.
              </span>
            </label>
          </fieldset>
          <fieldset className="group">
            <legend>Network</legend>
            <label className="field">
              <span className="field-label">Subnet</span>
              <input
                className="input mono"
                spellCheck={false}
                value={draft.subnet}
                onChange={(e) => edit({ subnet: e.target.value })}
              />
            </label>
            <label className="field">
              <span className="field-label">Interface name</span>
              <input
                className="input mono"
                spellCheck={false}
                value={draft.interface_name}
                onChange={(e) => edit({ interface_name: e.target.value })}
              />
            </label>
            {saved.restart_required && (
              <p className="notice" role="status">
                Subnet and interface changes apply after ngrokd restarts.
              </p>
            )}
          </fieldset>
          {saved.desktop && (
            <fieldset className="group">
              <legend>App</legend>
              <div className="field field-inline">
                <span className="field-label">Launch at login</span>
                <Switch
                  checked={draft.launch_at_login}
                  label="Launch at login"
                  onChange={(v) => edit({ launch_at_login: v })}
                />
              </div>
              <div className="field field-inline">
                <span className="field-label">Notifications</span>
                <Switch
                  checked={draft.notifications}
                  label="Notifications"
                  onChange={(v) => edit({ notifications: v })}
                />
              </div>
              {saved.traffic_title !== undefined && (
                <div className="field field-inline">
                  <span className="field-label">Traffic in the menu bar</span>
                  <Switch
                    checked={draft.traffic_title}
                    label="Traffic in the menu bar"
                    onChange={(v) => edit({ traffic_title: v })}
                  />
                </div>
              )}
            </fieldset>
          )}
          <div className="form-actions" aria-live="polite">
            {justSaved && (
              <span className="saved">
                <CheckIcon width={14} height={14} /> Saved
              </span>
            )}
            <button type="submit" className="button button-primary" disabled={!dirty || busy}>
              {busy ? 'Saving…' : 'Save'}
            </button>
          </div>
        </form>
      )}
      {problem !== null && (
        <div className="inline-error" role="alert">
          <p className="inline-error-message">{problem.message}</p>
          {problem.fix !== '' && <p className="inline-error-fix">{problem.fix}</p>}
        </div>
      )}
      <h3 className="section-title">About this connection</h3>
      <Details status={props.status} />
    </main>
  );
}
