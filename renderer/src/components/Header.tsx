import type { ReactElement, Ref } from 'react';
import type { EngineState, StatusView } from '../../../main/common/contract.ts';
import { formatRate } from '../format.ts';
import { ProblemBanners, type ProblemBannersProps } from './ProblemBanners.tsx';
import type { Rate } from '../traffic.ts';
import { ArrowDownIcon, ArrowUpIcon, GearIcon, Logo } from './Icons.tsx';
import { Sparkline } from './Sparkline.tsx';
import { Switch } from './Switch.tsx';

export type Connection = 'setup' | 'on' | 'off' | 'attention' | 'connecting' | 'disconnected';

/** How the header shows the engine's state (derived by the engine, the same one the tray shows). */
const CONNECTION: Record<EngineState, Connection> = {
  needs_key: 'setup',
  off: 'off',
  degraded: 'attention',
  starting: 'connecting',
  running: 'on',
};

/** The engine's state, unless the link to it is lost: then nothing it said last is known to hold. */
export function connectionState(status: StatusView, linkLost: boolean): Connection {
  return linkLost ? 'disconnected' : CONNECTION[status.state];
}

const LABELS: Record<Connection, string> = {
  setup: 'Not set up',
  on: 'On',
  off: 'Off',
  attention: 'Needs attention',
  connecting: 'Connecting…',
  disconnected: 'Disconnected',
};

/** The switch's name never changes with its state (aria-checked carries that). */
export const SWITCH_LABEL = 'ngrokd enabled';

function summary(state: Connection, status: StatusView, endpointProblems: number): string {
  const endpoints = `${status.endpoint_count.toLocaleString('en-US')} endpoint${status.endpoint_count === 1 ? '' : 's'}`;
  if (state === 'disconnected') return 'last known state';
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
  linkLost: boolean;
  endpointProblems: number;
  toggling: boolean;
  onToggle: (enabled: boolean) => void;
  onSettings: () => void;
  totalRate: Rate;
  totalPoints: readonly number[];
  showTraffic: boolean;
  /** How the warnings' banners act and copy. */
  banners: Omit<ProblemBannersProps, 'errors' | 'kind'>;
  switchRef: Ref<HTMLButtonElement>;
  settingsRef: Ref<HTMLButtonElement>;
}): ReactElement {
  const { status } = props;
  const state = connectionState(status, props.linkLost);
  return (
    <header className="header">
      <div className="header-row">
        <Logo size={28} />
        <div className="header-title">
          <h1>ngrokd</h1>
          <p className={`connection connection-${state}`} id="connection-state">
            <span className="connection-label">{LABELS[state]}</span>
            <span className="connection-summary"> · {summary(state, status, props.endpointProblems)}</span>
          </p>
        </div>
        <button
          type="button"
          className="icon-button header-button"
          aria-label="Settings"
          title="Settings"
          ref={props.settingsRef}
          onClick={props.onSettings}
        >
          <GearIcon />
        </button>
        {state !== 'setup' && ( // onboarding: there is nothing to turn on yet
          <Switch
            ref={props.switchRef}
            checked={status.enabled}
            label={SWITCH_LABEL}
            describedBy="connection-state"
            disabled={props.toggling || props.linkLost}
            unknown={props.linkLost}
            onChange={props.onToggle}
          />
        )}
      </div>
      {(status.warnings?.length ?? 0) > 0 && !props.linkLost && (
        <ProblemBanners {...props.banners} errors={status.warnings} kind="warning" />
      )}
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
