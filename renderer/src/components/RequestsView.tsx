/**
 * The request inspector in the window: the live list of one endpoint's requests (or every
 * endpoint's), newest first, with a search box; a request's detail with its headers (secrets
 * redacted by the daemon) and bodies when captured; Copy as curl and Replay. New requests arrive
 * by long poll (`requests` with `wait_ms`), so the list is live without a timer.
 */
import { useCallback, useEffect, useMemo, useState, type ReactElement, type Ref } from 'react';
import type { RequestDetail, RequestRecord } from '../../../main/common/contract.ts';
import type { NgrokdBridge } from '../../../main/common/bridge.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { bodyText, curlCommand } from '../../../main/common/har.ts';
import { asUserFacing } from '../bridge/user-facing.ts';
import { ErrorBanner } from './ErrorBanner.tsx';
import { BackIcon, SearchIcon } from './Icons.tsx';

/** Records kept in the window (the daemon keeps its own, bounded, list). */
const SHOWN = 500;
const WAIT_MS = 20_000;

export interface RequestsViewProps {
  bridge: NgrokdBridge;
  /** The endpoint's hostname, or null for every endpoint. */
  endpoint: string | null;
  onBack: () => void;
  onCopy: (text: string, what: string) => void;
  titleRef?: Ref<HTMLHeadingElement>;
}

function statusTone(status: number | null): string {
  if (status === null) return 'status-none';
  if (status >= 500) return 'status-error';
  if (status >= 400) return 'status-warning';
  if (status >= 300) return 'status-redirect';
  return 'status-ok';
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Whether a record matches the search text (method, path, status, endpoint, error). */
export function matchesRequest(r: RequestRecord, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (q === '') return true;
  const text =
    `${r.method} ${r.path} ${r.status ?? ''} ${r.endpoint} ${r.error ?? ''} ${r.kind}`.toLowerCase();
  return q.split(/\s+/).every((word) => text.includes(word));
}

function Body({ label, body }: { label: string; body: RequestDetail['request_body'] }): ReactElement {
  if (body === null)
    return (
      <p className="muted">
        {label}: not captured (set “inspect.bodies: true” in the daemon’s config to keep bodies).
      </p>
    );
  if (body.size === 0) return <p className="muted">{label}: empty.</p>;
  const text = bodyText(body.base64);
  return (
    <section aria-label={label}>
      <h3 className="detail-heading">
        {label}{' '}
        <span className="muted">
          ({body.size.toLocaleString('en-US')} bytes{body.truncated ? ', truncated' : ''})
        </span>
      </h3>
      <pre className="detail-body">{text ?? `(binary, base64)\n${body.base64}`}</pre>
    </section>
  );
}

function Headers({ label, headers }: { label: string; headers: [string, string][] }): ReactElement {
  return (
    <section aria-label={label}>
      <h3 className="detail-heading">{label}</h3>
      {headers.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <dl className="detail-headers">
          {headers.map(([name, value], i) => (
            <div key={i} className="detail-header">
              <dt>{name}</dt>
              <dd className={value === '[redacted]' ? 'muted' : undefined}>{value}</dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
}

function Detail(props: {
  detail: RequestDetail;
  onClose: () => void;
  onCopy: (text: string, what: string) => void;
  onReplay: () => void;
  replaying: boolean;
  replayed: RequestRecord | null;
}): ReactElement {
  const d = props.detail;
  return (
    <section className="request-detail" aria-label={`Request ${d.id}`}>
      <div className="detail-title">
        <button type="button" className="link-button" onClick={props.onClose}>
          All requests
        </button>
        <h2 className="detail-line mono">
          {d.method} {d.path}
        </h2>
        <p className="muted">
          <span className={`status ${statusTone(d.status)}`}>{d.status ?? 'no answer'}</span> ·{' '}
          {formatDuration(d.duration_ms)} · {d.endpoint} · {new Date(d.ts).toLocaleTimeString()} · connection{' '}
          {d.connection_id}
          {d.kind === 'http' ? '' : ` · ${d.kind}`}
          {d.error === null ? '' : ` · ${d.error}`}
        </p>
      </div>
      <div className="detail-actions">
        <button
          type="button"
          className="button button-small"
          onClick={() => props.onCopy(curlCommand(d), 'curl')}
        >
          Copy as curl
        </button>
        <button
          type="button"
          className="button button-small"
          aria-disabled={!d.replayable || props.replaying ? true : undefined}
          aria-describedby={d.replayable ? undefined : 'replay-why'}
          onClick={() => {
            if (d.replayable && !props.replaying) props.onReplay();
          }}
        >
          {props.replaying ? 'Replaying…' : 'Replay'}
        </button>
      </div>
      {!d.replayable && (
        <p className="muted" id="replay-why">
          Replay needs the whole request body: the daemon keeps bodies with “inspect.bodies: true”.
        </p>
      )}
      {props.replayed !== null && (
        <p role="status">
          Replayed as request {props.replayed.id}:{' '}
          <span className={`status ${statusTone(props.replayed.status)}`}>
            {props.replayed.status ?? 'no answer'}
          </span>{' '}
          in {formatDuration(props.replayed.duration_ms)}.
        </p>
      )}
      <Headers label="Request headers" headers={d.request_headers} />
      <Body label="Request body" body={d.request_body} />
      <Headers label="Response headers" headers={d.response_headers} />
      <Body label="Response body" body={d.response_body} />
    </section>
  );
}

export function RequestsView(props: RequestsViewProps): ReactElement {
  const { bridge, endpoint } = props;
  const [records, setRecords] = useState<RequestRecord[]>([]);
  const [query, setQuery] = useState('');
  const [error, setError] = useState<UserFacingError | null>(null);
  const [detail, setDetail] = useState<RequestDetail | null>(null);
  const [replaying, setReplaying] = useState(false);
  const [replayed, setReplayed] = useState<RequestRecord | null>(null);

  // The live list: the newest first, then a long poll for what comes after.
  useEffect(() => {
    let stopped = false;
    setRecords([]);
    const scope = endpoint === null ? {} : { endpoint };
    void (async () => {
      let after = 0;
      let first = true;
      while (!stopped) {
        try {
          const next = await bridge.invoke(
            'requests',
            first ? { ...scope, limit: SHOWN } : { ...scope, after, wait_ms: WAIT_MS },
          );
          first = false;
          if (stopped) return;
          setError(null);
          if (next.length > 0) {
            after = (next[next.length - 1] as RequestRecord).id;
            setRecords((old) => [...next.slice().reverse(), ...old].slice(0, SHOWN));
          }
        } catch (err) {
          if (stopped) return;
          setError(asUserFacing(err));
          await new Promise((r) => window.setTimeout(r, 2000));
        }
      }
    })();
    return () => {
      stopped = true;
    };
  }, [bridge, endpoint]);

  const visible = useMemo(() => records.filter((r) => matchesRequest(r, query)), [records, query]);

  const open = useCallback(
    async (id: number) => {
      setReplayed(null);
      try {
        setDetail(await bridge.invoke('request', { id }));
      } catch (err) {
        setError(asUserFacing(err));
      }
    },
    [bridge],
  );

  const replay = useCallback(async () => {
    if (detail === null) return;
    setReplaying(true);
    try {
      setReplayed(await bridge.invoke('replay', { id: detail.id }));
      setError(null);
    } catch (err) {
      setError(asUserFacing(err));
    } finally {
      setReplaying(false);
    }
  }, [bridge, detail]);

  return (
    <main className="main requests" aria-label={endpoint === null ? 'Requests' : `Requests to ${endpoint}`}>
      <div className="subheader">
        <button type="button" className="icon-button" aria-label="Back to endpoints" onClick={props.onBack}>
          <BackIcon />
        </button>
        <h2 tabIndex={-1} ref={props.titleRef}>
          {endpoint === null ? 'Requests' : `Requests · ${endpoint}`}
        </h2>
      </div>
      {error !== null && <ErrorBanner error={error} />}
      {detail !== null ? (
        <Detail
          detail={detail}
          onClose={() => setDetail(null)}
          onCopy={props.onCopy}
          onReplay={() => void replay()}
          replaying={replaying}
          replayed={replayed}
        />
      ) : (
        <>
          <div className="search">
            <SearchIcon className="search-icon" />
            <input
              className="search-input"
              type="search"
              placeholder="Search method, path, status"
              aria-label="Search requests"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
            />
          </div>
          {visible.length === 0 ? (
            <p className="empty" role="status">
              {records.length === 0
                ? 'No requests yet. HTTP requests to this endpoint appear here as they complete.'
                : `No requests match “${query}”.`}
            </p>
          ) : (
            <ul className="request-list" aria-label="Requests, newest first">
              {visible.map((r) => (
                <li key={r.id}>
                  <button type="button" className="request-row" onClick={() => void open(r.id)}>
                    <span className="request-method mono">{r.method}</span>
                    <span className="request-path mono">{r.path}</span>
                    <span className={`status ${statusTone(r.status)}`}>{r.status ?? '—'}</span>
                    <span className="request-duration muted">{formatDuration(r.duration_ms)}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </main>
  );
}
