/**
 * Settings as a form: each field says under itself why it is not accepted (the contract's own
 * rules, checked before sending), the first invalid field gets the focus, and what is in effect is
 * shown beside what is asked (the subnet in use). Then the account, the ingress CA, and what only
 * the desktop app has (helper, updates, command-line tool).
 */
import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactElement, type Ref } from 'react';
import type { DesktopAction, Settings, StatusView } from '../../../main/common/contract.ts';
import type { NgrokdBridge } from '../../../main/common/bridge.ts';
import { presentProblem, type Surface } from '../../../main/common/presentation.ts';
import { asUserFacing } from '../bridge/user-facing.ts';
import { formatRelative } from '../format.ts';
import {
  draftOf,
  fieldErrors,
  patchOf,
  TEXT_FIELDS,
  type Draft,
  type FieldErrors,
  type TextField as TextFieldName,
} from '../settings-form.ts';
import { BackIcon, CheckIcon } from './Icons.tsx';
import { Switch } from './Switch.tsx';
import { AccountSection } from './settings/AccountSection.tsx';
import { ActionStatus, type Outcome } from './settings/ActionStatus.tsx';
import { CliSection, HelperSection, UpdatesSection } from './settings/DesktopSections.tsx';
import { IngressCaSection } from './settings/IngressCaSection.tsx';
import { TextField } from './settings/TextField.tsx';

type FieldElement = HTMLInputElement & HTMLTextAreaElement;

function ConnectionDetails({ status }: { status: StatusView }): ReactElement {
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

function SwitchField(props: {
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
}): ReactElement {
  return (
    <div className="field field-inline">
      <span className="field-label" aria-hidden="true">
        {props.label}
      </span>
      <Switch checked={props.checked} label={props.label} onChange={props.onChange} />
    </div>
  );
}

const DESKTOP_SECTIONS: Record<DesktopAction, 'helper' | 'ca' | 'updates' | 'cli'> = {
  'install-helper': 'helper',
  'uninstall-helper': 'helper',
  'choose-ca-file': 'ca',
  'check-for-updates': 'updates',
  'restart-to-update': 'updates',
  'install-cli': 'cli',
  'uninstall-cli': 'cli',
};

/** Runs the desktop app's actions and keeps the last outcome for the section that asked. */
function useDesktopActions(
  bridge: NgrokdBridge,
  onSettings: (s: Settings) => void,
): {
  act: (action: DesktopAction) => Promise<void>;
  busy: boolean;
  outcomeFor: (section: (typeof DESKTOP_SECTIONS)[DesktopAction]) => Outcome;
} {
  const [busy, setBusy] = useState(false);
  const [last, setLast] = useState<{ action: DesktopAction; outcome: Outcome } | null>(null);
  const act = useCallback(
    async (action: DesktopAction) => {
      setBusy(true);
      setLast(null);
      try {
        const result = await bridge.invoke('desktopAction', { action });
        onSettings(result.settings);
        setLast({ action, outcome: { ok: true, message: result.message } });
      } catch (err) {
        setLast({ action, outcome: { ok: false, error: asUserFacing(err) } });
      } finally {
        setBusy(false);
      }
    },
    [bridge, onSettings],
  );
  const outcomeFor = (section: (typeof DESKTOP_SECTIONS)[DesktopAction]): Outcome =>
    last !== null && DESKTOP_SECTIONS[last.action] === section ? last.outcome : null;
  return { act, busy, outcomeFor };
}

export interface SettingsViewProps {
  bridge: NgrokdBridge;
  status: StatusView;
  surface: Surface;
  now: number;
  onBack: () => void;
  onChangeKey: () => void;
  onSignedOut: () => void;
  /** Opened to set the ingress CA (a problem's "Set CA file…" in the browser): focus its field. */
  focusCa: boolean;
  /** Open Help → Run diagnostics (the doctor's checks). */
  onDiagnostics: () => void;
  titleRef: Ref<HTMLHeadingElement>;
}

export function SettingsView(props: SettingsViewProps): ReactElement {
  const { bridge, surface } = props;
  const [saved, setSaved] = useState<Settings | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [problem, setProblem] = useState<Outcome>(null);
  const [busy, setBusy] = useState(false);
  const [justSaved, setJustSaved] = useState(false);
  const fields = useRef<Partial<Record<TextFieldName | 'ingress_ca', FieldElement | null>>>({});
  const fieldRef =
    (name: TextFieldName | 'ingress_ca') =>
    (el: FieldElement | null): void => {
      fields.current[name] = el;
    };

  const onSettings = useCallback((s: Settings) => {
    setSaved(s);
    setDraft(draftOf(s));
  }, []);
  // A desktop action or the CA section changes what is saved, never what is being edited.
  const desktop = useDesktopActions(bridge, setSaved);

  useEffect(() => {
    let live = true;
    bridge.invoke('getSettings', {}).then(
      (s) => live && onSettings(s),
      (err: unknown) => live && setProblem({ ok: false, error: asUserFacing(err) }),
    );
    return () => {
      live = false;
    };
  }, [bridge, onSettings]);

  const loaded = saved !== null;
  useEffect(() => {
    if (!loaded || !props.focusCa) return;
    const ca = fields.current.ingress_ca;
    ca?.focus();
    ca?.scrollIntoView({ block: 'center' });
  }, [loaded, props.focusCa]);

  const patch = saved !== null && draft !== null ? patchOf(saved, draft) : {};
  const dirty = Object.keys(patch).length > 0;
  const edit = (change: Partial<Draft>): void => {
    setJustSaved(false);
    setErrors((e) => {
      const next = { ...e };
      for (const key of Object.keys(change)) delete next[key as TextFieldName];
      return next;
    });
    setDraft((d) => (d === null ? d : { ...d, ...change }));
  };

  const showErrors = (next: FieldErrors): void => {
    setErrors(next);
    const first = TEXT_FIELDS.find((f) => next[f] !== undefined);
    const el = first === undefined ? null : (fields.current[first] ?? null);
    el?.focus();
    el?.scrollIntoView({ block: 'center' });
  };

  const save = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (!dirty || busy || draft === null) return;
    setProblem(null);
    const invalid = fieldErrors(patch, draft);
    if (Object.keys(invalid).length > 0) return showErrors(invalid);
    setBusy(true);
    try {
      onSettings(await bridge.invoke('updateSettings', patch));
      setErrors({});
      setJustSaved(true);
    } catch (err) {
      const error = asUserFacing(err);
      // A refusal of the one field that changed belongs to that field.
      const changed = TEXT_FIELDS.filter((f) => patch[f] !== undefined);
      if (changed.length === 1 && changed[0] !== undefined)
        showErrors({ [changed[0]]: presentProblem(error, surface).summary });
      else setProblem({ ok: false, error });
    } finally {
      setBusy(false);
    }
  };

  const text = (name: TextFieldName) => ({
    id: `setting-${name.replace('_', '-')}`,
    value: draft?.[name] ?? '',
    error: errors[name],
    onChange: (v: string) => edit({ [name]: v }),
    inputRef: fieldRef(name),
  });

  const info = saved?.desktop_info;
  const userMode = props.status.mode === 'user';
  return (
    <main className="settings" aria-labelledby="settings-title">
      <div className="subheader">
        <button type="button" className="icon-button" aria-label="Back to endpoints" onClick={props.onBack}>
          <BackIcon />
        </button>
        <h2 id="settings-title" tabIndex={-1} ref={props.titleRef}>
          Settings
        </h2>
      </div>
      {draft === null || saved === null ? (
        problem === null ? (
          <p className="muted settings-loading">Loading…</p>
        ) : null
      ) : (
        <>
          <form className="settings-form" noValidate onSubmit={(e) => void save(e)}>
            <fieldset className="group">
              <legend>Discovery</legend>
              <TextField
                {...text('poll_interval')}
                label="Poll interval"
                unit="seconds"
                inputMode="decimal"
              />
              <TextField
                {...text('selectors')}
                label="Endpoint selectors"
                mono
                multiline
                help={
                  <>
                    One CEL expression per line; ngrok evaluates them. <span className="mono">true</span>{' '}
                    binds every endpoint.
                  </>
                }
              />
            </fieldset>
            <fieldset className="group">
              <legend>Network</legend>
              <TextField
                {...text('subnet')}
                label="Subnet"
                mono
                help={
                  userMode ? (
                    <>
                      In use: <span className="mono">{saved.subnet_in_use}</span> (user mode uses loopback
                      addresses; this subnet applies with the helper).
                    </>
                  ) : (
                    <>
                      In use: <span className="mono">{saved.subnet_in_use}</span>
                    </>
                  )
                }
              />
              <TextField {...text('interface_name')} label="Interface name" mono />
              {saved.restart_required && (
                <p className="notice" role="status">
                  Subnet and interface changes apply after ngrokd restarts.
                </p>
              )}
            </fieldset>
            {saved.desktop && (
              <fieldset className="group">
                <legend>App</legend>
                <SwitchField
                  label="Launch at login"
                  checked={draft.launch_at_login}
                  onChange={(v) => edit({ launch_at_login: v })}
                />
                <SwitchField
                  label="Notifications"
                  checked={draft.notifications}
                  onChange={(v) => edit({ notifications: v })}
                />
                {saved.traffic_title !== undefined && (
                  <SwitchField
                    label="Traffic in the menu bar"
                    checked={draft.traffic_title}
                    onChange={(v) => edit({ traffic_title: v })}
                  />
                )}
              </fieldset>
            )}
            {info !== undefined && (
              <UpdatesSection
                info={info}
                checked={draft.check_updates}
                onChecked={(v) => edit({ check_updates: v })}
                act={desktop.act}
                busy={desktop.busy}
                now={props.now}
              >
                <ActionStatus outcome={desktop.outcomeFor('updates')} surface={surface} />
              </UpdatesSection>
            )}
            <div className="form-actions">
              {justSaved && (
                <span className="saved" role="status">
                  <CheckIcon width={14} height={14} /> Saved
                </span>
              )}
              <button
                type="submit"
                className="button button-primary"
                aria-disabled={!dirty || busy ? true : undefined}
              >
                {busy ? 'Saving…' : 'Save'}
              </button>
            </div>
            <ActionStatus outcome={problem} surface={surface} />
          </form>
          <AccountSection
            bridge={bridge}
            status={props.status}
            surface={surface}
            onChangeKey={props.onChangeKey}
            onSignedOut={props.onSignedOut}
          />
          <IngressCaSection
            bridge={bridge}
            settings={saved}
            surface={surface}
            onSettings={setSaved}
            desktopAction={desktop.act}
            inputRef={fieldRef('ingress_ca')}
          >
            <ActionStatus outcome={desktop.outcomeFor('ca')} surface={surface} />
          </IngressCaSection>
          {info !== undefined && (
            <>
              <HelperSection info={info} act={desktop.act} busy={desktop.busy}>
                <ActionStatus outcome={desktop.outcomeFor('helper')} surface={surface} />
              </HelperSection>
              <CliSection info={info} act={desktop.act} busy={desktop.busy}>
                <ActionStatus outcome={desktop.outcomeFor('cli')} surface={surface} />
              </CliSection>
            </>
          )}
        </>
      )}
      {(draft === null || saved === null) && <ActionStatus outcome={problem} surface={surface} />}
      <h3 className="section-title">About this connection</h3>
      <ConnectionDetails status={props.status} />
      <h3 className="section-title">Help</h3>
      <div className="settings-actions">
        <button type="button" className="button button-small" onClick={props.onDiagnostics}>
          Run diagnostics
        </button>
        <p className="muted">
          Checks the API, the ingress, addresses, the hosts file and name resolution, each with its fix.
        </p>
      </div>
    </main>
  );
}
