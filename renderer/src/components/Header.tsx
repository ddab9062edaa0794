import type { ReactElement } from 'react';
import type { EngineState, StatusView } from '../../../main/common/contract.ts';
import { formatRate } from '../format.ts';
import { ErrorBanners } from './ErrorBanners.tsx';
import type { Rate } from '../traffic.ts';
import { ArrowDownIcon, ArrowUpIcon, GearIcon, Logo } from './Icons.tsx';
import { Sparkline } from './Sparkline.tsx';
import { Switch } from './Switch.tsx';

export type Connection = 'setup' | 'on' | 'off' | 'attention' | 'connecting';

/** How the header shows the engine's state (derived by the engine, the same one the tray shows). */
const CONNECTION: Record<EngineState, Connection> = {
  needs_key: 'setup',
  off: 'off',
  degraded: 'attention',
  starting: 'connecting',
  running: 'on',
};

export function connectionState(status: StatusView): Connection {
  return CONNECTION[status.state];
}

const LABELS: Record<Connection, string> = {
  setup: 'Not set up',
  on: 'On',
  off: 'Off',
  attention: 'Needs attention',
  connecting: 'Connecting…',
};

function summary(state: Connection, status: StatusView, endpointProblems: number): string {
  const endpoints = `${status.endpoint_count.toLocaleString('en-US')} endpoint${status.endpoint_count === 1 ? '' : 's'}`;
  if (state === 'setup') return 'Add your ngrok API key';
  if (state === 'off') return 'Endpoints are not reachable';
  if (state === 'attention') {
    const n = status.errors.length + endpointProblems;
    return `${n} problem${n === 1 ? '' : 's'}`;
  }
  if (state === 'connecting') return 'Registering with ngrok';
  const warnings = status.warnings?.length ?? 0; // absent from a daemon older than this window
  return warnings === 0 ? endpoints : `${endpoints} · ${warnings} warning${warnings === 1 ? '' : 's'}`;
}

export function Header(props: {
  status: StatusView;
  endpointProblems: number;
  toggling: boolean;
  onToggle: (enabled: boolean) => void;
  onSettings: () => void;
  totalRate: Rate;
  totalPoints: readonly number[];
  showTraffic: boolean;
}): ReactElement {
  const { status } = props;
  const state = connectionState(status);
  return (
    <header className="header">
      <div className="header-row">
        <Logo size={28} />
        <div className="header-title">
          <h1>ngrokd</h1>
          <p className={`connection connection-${state}`} aria-live="polite">
            <span className="connection-label">{LABELS[state]}</span>
            <span className="connection-summary"> · {summary(state, status, props.endpointProblems)}</span>
          </p>
        </div>
        <button
          type="button"
          className="icon-button header-button"
          aria-label="Settings"
          title="Settings"
          onClick={props.onSettings}
        >
          <GearIcon />
        </button>
        {state !== 'setup' && ( // onboarding: there is nothing to turn on yet
          <Switch
            checked={status.enabled}
            label={status.enabled ? 'ngrokd is on: turn off' : 'ngrokd is off: turn on'}
            disabled={props.toggling}
            onChange={props.onToggle}
          />
        )}
      </div>
      {(status.warnings?.length ?? 0) > 0 && <ErrorBanners errors={status.warnings} kind="warning" />}
      {props.showTraffic && (
        <div className="totals" aria-label="Traffic, all endpoints">
          <div className="totals-figures">
            <span className="figure" title="Received from ngrok">
              <ArrowDownIcon width={12} height={12} />
              <span className="figure-value">{formatRate(props.totalRate.in)}</span>
            </span>
            <span className="figure" title="Sent to ngrok">
              <ArrowUpIcon width={12} height={12} />
              <span className="figure-value">{formatRate(props.totalRate.out)}</span>
            </span>
            <span className="figure figure-muted">
              {status.totals.connections} active connection{status.totals.connections === 1 ? '' : 's'}
            </span>
          </div>
          <Sparkline values={props.totalPoints} width={348} height={28} label="Traffic, all endpoints" />
        </div>
      )}
    </header>
  );
}
