/** What only the desktop app has in its settings: the helper, updates, the command-line tool. */
import type { ReactElement, ReactNode } from 'react';
import type { DesktopAction, DesktopInfo, UpdateState } from '../../../../main/common/contract.ts';
import { formatRelative } from '../../format.ts';

type Act = (action: DesktopAction) => Promise<void>;

function ActionButton(props: {
  action: DesktopAction;
  label: string;
  act: Act;
  busy: boolean;
}): ReactElement {
  return (
    <button
      type="button"
      className="button button-small"
      aria-disabled={props.busy ? true : undefined}
      onClick={() => {
        if (!props.busy) void props.act(props.action);
      }}
    >
      {props.label}
    </button>
  );
}

export function HelperSection(props: {
  info: DesktopInfo;
  act: Act;
  busy: boolean;
  children?: ReactNode;
}): ReactElement {
  const { helper } = props.info;
  const state = !helper.installed
    ? 'Not installed: ngrokd runs in user mode (loopback addresses, ports from 10000).'
    : helper.current
      ? `Installed (version ${helper.version ?? 'unknown'}).`
      : `Installed (version ${helper.version ?? 'unknown'}); an update comes with this app.`;
  return (
    <section className="group" aria-labelledby="helper-title">
      <h3 className="group-title" id="helper-title">
        Privileged helper
      </h3>
      <p className="section-line">{state}</p>
      <div className="section-actions">
        {!helper.installed || !helper.current ? (
          <ActionButton
            action="install-helper"
            label={helper.installed ? 'Update helper…' : 'Install helper…'}
            act={props.act}
            busy={props.busy}
          />
        ) : null}
        {helper.installed && (
          <ActionButton
            action="uninstall-helper"
            label="Uninstall helper…"
            act={props.act}
            busy={props.busy}
          />
        )}
      </div>
      {props.children}
    </section>
  );
}

function updateLine(u: UpdateState, now: number): string {
  if (u.managed) return 'Update checks are turned off by your administrator.';
  const checked = u.checked_at === null ? '' : ` Last checked ${formatRelative(u.checked_at, now)}.`;
  switch (u.status) {
    case 'checking':
      return 'Checking for updates…';
    case 'available':
    case 'downloading':
      return `Version ${u.version ?? ''} is downloading.`;
    case 'ready':
      return `Version ${u.version ?? ''} is ready: it installs when ngrokd restarts.`;
    case 'error':
      return `${u.message ?? 'The last check failed.'}${checked}`;
    case 'disabled':
      return 'Update checks are off.';
    default:
      return `Up to date.${checked}`;
  }
}

export function UpdatesSection(props: {
  info: DesktopInfo;
  checked: boolean;
  onChecked: (checked: boolean) => void;
  act: Act;
  busy: boolean;
  now: number;
  children?: ReactNode;
}): ReactElement {
  const u = props.info.updates;
  return (
    <section className="group" aria-labelledby="updates-title">
      <h3 className="group-title" id="updates-title">
        Updates
      </h3>
      <div className="field field-check">
        <input
          id="check-updates"
          type="checkbox"
          checked={props.checked}
          disabled={u.managed}
          aria-describedby="updates-status"
          onChange={(e) => props.onChecked(e.target.checked)}
        />
        <label htmlFor="check-updates">Check for updates automatically</label>
      </div>
      <p className="section-line" id="updates-status" role="status">
        {updateLine(u, props.now)}
      </p>
      <div className="section-actions">
        {!u.managed && (
          <ActionButton action="check-for-updates" label="Check now" act={props.act} busy={props.busy} />
        )}
        {u.status === 'ready' && (
          <ActionButton
            action="restart-to-update"
            label="Restart to update"
            act={props.act}
            busy={props.busy}
          />
        )}
      </div>
      {props.children}
    </section>
  );
}

export function CliSection(props: {
  info: DesktopInfo;
  act: Act;
  busy: boolean;
  children?: ReactNode;
}): ReactElement {
  const { cli } = props.info;
  return (
    <section className="group" aria-labelledby="cli-title">
      <h3 className="group-title" id="cli-title">
        Command-line tool
      </h3>
      <p className="section-line">
        {cli.installed ? 'Installed at ' : 'Not installed. It would go to '}
        <span className="mono">{cli.path}</span>
      </p>
      <div className="section-actions">
        {cli.installed ? (
          <ActionButton
            action="uninstall-cli"
            label="Remove command-line tool…"
            act={props.act}
            busy={props.busy}
          />
        ) : (
          <ActionButton
            action="install-cli"
            label="Install command-line tool…"
            act={props.act}
            busy={props.busy}
          />
        )}
      </div>
      {props.children}
    </section>
  );
}
