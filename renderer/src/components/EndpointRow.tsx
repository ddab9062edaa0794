import type { ReactElement } from 'react';
import type { EndpointView } from '../../../main/common/contract.ts';
import { ERROR_CODES } from '../../../main/common/errors.ts';
import { formatRate, formatRelative, localAddress } from '../format.ts';
import type { Rate } from '../traffic.ts';
import { CheckIcon, CopyIcon, LinkIcon } from './Icons.tsx';
import { Sparkline } from './Sparkline.tsx';

export const ROW_HEIGHT = 60;

export type CopyWhat = 'hostname' | 'address' | 'url';

export interface EndpointRowProps {
  endpoint: EndpointView;
  index: number;
  setSize: number;
  /** The row that holds the list's single tab stop. */
  active: boolean;
  /** The endpoint's own error is also a current problem of the whole app (e.g. the ingress). */
  warning: boolean;
  rate: Rate;
  points: readonly number[];
  /** Which of this row's values was just copied, if any. */
  copied: CopyWhat | null;
  onCopy: (endpoint: EndpointView, what: CopyWhat) => void;
  onFocusRow: (index: number) => void;
}

function rowState(e: EndpointView, warning: boolean): { className: string; text: string } {
  if (!e.listening) return { className: 'error', text: `error: ${e.last_error?.message ?? 'not listening'}` };
  // A shared problem (the ingress) is explained in its banner; the row names it.
  if (warning && e.last_error !== null)
    return { className: 'warning', text: ERROR_CODES[e.last_error.code] ?? e.last_error.message };
  return { className: 'ok', text: 'listening' };
}

export function EndpointRow(props: EndpointRowProps): ReactElement {
  const { endpoint: e, index, active, copied, onCopy } = props;
  const state = rowState(e, props.warning);
  const detailsId = `endpoint-${index}-details`;
  const tabIndex = active ? 0 : -1;
  const portNote = e.listen_port !== e.port ? `endpoint port ${e.port}` : null;
  const idle = props.rate.in < 1 && props.rate.out < 1 && e.connections === 0;
  // What last got through and what last failed, kept after the failure is over.
  const lastOk = e.last_ok_at === null ? null : `last ok ${formatRelative(e.last_ok_at, Date.now())}`;
  const lastFailure = e.last_ingress_error === null ? null : `last error ${e.last_ingress_error}`;
  return (
    <div
      role="listitem"
      aria-posinset={index + 1}
      aria-setsize={props.setSize}
      className={`row row-${state.className}`}
      data-index={index}
      style={{ transform: `translateY(${index * ROW_HEIGHT}px)` }}
    >
      <button
        type="button"
        className="row-main"
        tabIndex={tabIndex}
        aria-label={`Copy hostname ${e.hostname}`}
        aria-describedby={detailsId}
        title={`Copy ${e.hostname}`}
        onClick={() => onCopy(e, 'hostname')}
        onFocus={() => props.onFocusRow(index)}
      >
        <span className="row-title">
          <span className={`dot dot-${state.className}`} aria-hidden="true" />
          <span className="row-host">{e.hostname}</span>
          {copied === 'hostname' ? (
            <span className="copied-chip">
              <CheckIcon width={12} height={12} /> Copied
            </span>
          ) : (
            <span className={`badge badge-${e.proto}`}>{e.proto}</span>
          )}
        </span>
        <span className="row-sub" id={detailsId}>
          {state.className === 'ok' ? (
            <>
              <span className="address">{localAddress(e)}</span>
              {portNote !== null && <span className="row-note"> · {portNote}</span>}
              {e.connections > 0 && <span className="row-note"> · {e.connections} active</span>}
              {lastOk !== null && <span className="row-note"> · {lastOk}</span>}
              {lastFailure !== null && <span className="row-note"> · {lastFailure}</span>}
            </>
          ) : (
            <>
              <span className="row-problem" title={state.text}>
                {state.text}
              </span>
              {lastOk !== null && <span className="row-note"> · {lastOk}</span>}
            </>
          )}
        </span>
      </button>
      <div className="row-traffic">
        <Sparkline values={props.points} width={72} height={20} label={`Traffic of ${e.hostname}`} />
        {idle ? (
          <span className="row-rates row-idle">idle</span>
        ) : (
          <span
            className="row-rates"
            aria-label={`${formatRate(props.rate.in)} in, ${formatRate(props.rate.out)} out`}
          >
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
          aria-label={`Copy URL ${e.url}`}
          title={`Copy ${e.url}`}
          onClick={() => onCopy(e, 'url')}
          onFocus={() => props.onFocusRow(index)}
        >
          {copied === 'url' ? <CheckIcon /> : <LinkIcon />}
        </button>
      </div>
    </div>
  );
}
