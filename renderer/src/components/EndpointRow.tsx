import { Fragment, type ReactElement } from 'react';
import type { EndpointView } from '../../../main/common/contract.ts';
import { endpointHealth, localUrl, portNote } from '../endpoint-health.ts';
import { formatRate, formatRelative, localAddress } from '../format.ts';
import type { Rate } from '../traffic.ts';
import { CheckIcon, CopyIcon, LinkIcon, PinIcon, RequestsIcon } from './Icons.tsx';
import { Sparkline } from './Sparkline.tsx';
import { Switch } from './Switch.tsx';

export type CopyWhat = 'hostname' | 'address' | 'url';
/** What a row's own controls ask for: its switch, its pin, its request inspector. */
export type RowAction = 'enable' | 'disable' | 'pin' | 'unpin' | 'requests';

export interface EndpointRowProps {
  endpoint: EndpointView;
  index: number;
  setSize: number;
  /** Row height in px (the list measures it: it follows the font size and the window width). */
  height: number;
  /** The row that holds the list's single tab stop. */
  active: boolean;
  rate: Rate;
  points: readonly number[];
  now: number;
  /** Which of this row's values was just copied, if any. */
  copied: CopyWhat | null;
  onCopy: (endpoint: EndpointView, what: CopyWhat) => void;
  onFocusRow: (index: number) => void;
  /** Absent: the row has no switch, pin or inspector button (e.g. read-only lists). */
  onAction?: (endpoint: EndpointView, action: RowAction) => void;
}

/** A hostname that wraps after its dots (between labels) before anywhere else. */
function BreakableHostname({ hostname }: { hostname: string }): ReactElement {
  const labels = hostname.split('.');
  return (
    <>
      {labels.map((label, i) => (
        <Fragment key={i}>
          {label}
          {i < labels.length - 1 && (
            <>
              .<wbr />
            </>
          )}
        </Fragment>
      ))}
    </>
  );
}

/** What last got through and what last failed, kept after the failure is over. */
function history(e: EndpointView, now: number): string[] {
  return [
    e.connections > 0 ? `${e.connections} active` : null,
    e.last_ok_at === null ? null : `last ok ${formatRelative(e.last_ok_at, now)}`,
    e.last_ingress_error === null ? null : `last error ${e.last_ingress_error}`,
  ].filter((part) => part !== null);
}

export function EndpointRow(props: EndpointRowProps): ReactElement {
  const { endpoint: e, index, active, copied, onCopy } = props;
  const health = endpointHealth(e);
  const detailsId = `endpoint-${index}-details`;
  const tabIndex = active ? 0 : -1;
  const forPort = portNote(e);
  const idle = props.rate.in < 1 && props.rate.out < 1 && e.connections === 0;
  const url = localUrl(e);
  const notes = history(e, props.now);
  return (
    <div
      role="listitem"
      aria-posinset={index + 1}
      aria-setsize={props.setSize}
      className={`row row-${health.tone}`}
      data-index={index}
      style={{ transform: `translateY(${index * props.height}px)`, height: props.height }}
    >
      {/* No aria-label: the name is the visible text, so it starts with the hostname. */}
      <button
        type="button"
        className="row-main"
        tabIndex={tabIndex}
        title={`Copy ${e.hostname}`}
        onClick={() => onCopy(e, 'hostname')}
        onFocus={() => props.onFocusRow(index)}
      >
        <span className="row-title">
          <span className={`dot dot-${health.tone}`} aria-hidden="true" />
          <span className="row-host">
            <BreakableHostname hostname={e.hostname} />
          </span>
          {copied === 'hostname' ? (
            <span className="copied-chip">
              <CheckIcon width={12} height={12} /> Copied
            </span>
          ) : (
            <span className={`badge badge-${e.proto}`}>{e.proto}</span>
          )}
        </span>
        <span className="row-sub" id={detailsId}>
          {health.problem !== null && <span className="row-problem">{health.problem} · </span>}
          <span className="address">{localAddress(e)}</span>
          {forPort !== null && <span className="row-note"> {forPort}</span>}
          {notes.map((note) => (
            <span className="row-note" key={note}>
              {' '}
              · {note}
            </span>
          ))}
        </span>
      </button>
      <div className="row-traffic">
        <Sparkline values={props.points} width={72} height={20} label={`Traffic of ${e.hostname}`} />
        {idle ? (
          <span className="row-rates row-idle">idle</span>
        ) : (
          <span className="row-rates">
            <span>↓ {formatRate(props.rate.in)}</span>
            <span>↑ {formatRate(props.rate.out)}</span>
          </span>
        )}
      </div>
      <div className="row-actions">
        <button
          type="button"
          className="icon-button"
          tabIndex={tabIndex}
          aria-label={`Copy address ${localAddress(e)}`}
          title={`Copy ${localAddress(e)}`}
          onClick={() => onCopy(e, 'address')}
          onFocus={() => props.onFocusRow(index)}
        >
          {copied === 'address' ? <CheckIcon /> : <CopyIcon />}
        </button>
        <button
          type="button"
          className="icon-button"
          tabIndex={tabIndex}
          aria-label={`Copy URL ${url}`}
          title={`Copy ${url}`}
          onClick={() => onCopy(e, 'url')}
          onFocus={() => props.onFocusRow(index)}
        >
          {copied === 'url' ? <CheckIcon /> : <LinkIcon />}
        </button>
        {props.onAction !== undefined && (
          <>
            {e.proto === 'http' && (
              <button
                type="button"
                className="icon-button"
                tabIndex={tabIndex}
                aria-label={`Requests to ${e.hostname}`}
                title="Requests"
                onClick={() => props.onAction?.(e, 'requests')}
                onFocus={() => props.onFocusRow(index)}
              >
                <RequestsIcon />
              </button>
            )}
            <button
              type="button"
              className={e.pinned ? 'icon-button icon-button-on' : 'icon-button'}
              tabIndex={tabIndex}
              aria-label={`Pin ${e.hostname} to the top`}
              aria-pressed={e.pinned}
              title={e.pinned ? 'Unpin' : 'Pin to the top'}
              onClick={() => props.onAction?.(e, e.pinned ? 'unpin' : 'pin')}
              onFocus={() => props.onFocusRow(index)}
            >
              <PinIcon />
            </button>
            <span className="row-switch" onFocus={() => props.onFocusRow(index)}>
              <Switch
                checked={e.enabled}
                label={`${e.hostname} on`}
                tabIndex={tabIndex}
                onChange={(on) => props.onAction?.(e, on ? 'enable' : 'disable')}
              />
            </span>
          </>
        )}
      </div>
    </div>
  );
}
