/**
 * The tray window: connection state and toggle, totals, current problems with their fixes, and the
 * filterable endpoint list; onboarding while there is no usable API key; settings. Everything goes
 * through the bridge it is given, so the desktop app and browser mode share every line.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import type { EndpointView, StateSnapshot, StatusView } from '../../main/common/contract.ts';
import type { UserFacingError } from '../../main/common/errors.ts';
import type { NgrokdBridge } from '../../main/common/bridge.ts';
import type { ProblemActionKind, Surface } from '../../main/common/presentation.ts';
import { asUserFacing } from './bridge/user-facing.ts';
import { filterEndpoints, searchIndex } from './endpoint-filter.ts';
import { localUrl } from './endpoint-health.ts';
import { localAddress } from './format.ts';
import { isTyping } from './keyboard.ts';
import { TrafficHistory } from './traffic.ts';
import { useCopy } from './use-copy.ts';
import { EndpointList, type EndpointListHandle } from './components/EndpointList.tsx';
import type { CopyWhat, RowAction } from './components/EndpointRow.tsx';
import { RequestsView } from './components/RequestsView.tsx';
import { DiagnosticsView } from './components/DiagnosticsView.tsx';
import { Header } from './components/Header.tsx';
import { Logo, PowerIcon, SearchIcon } from './components/Icons.tsx';
import { Onboarding, type OnboardingStage } from './components/Onboarding.tsx';
import { KEY_CODES, ProblemBanners } from './components/ProblemBanners.tsx';
import { SettingsView } from './components/SettingsView.tsx';

type View = 'endpoints' | 'settings' | 'requests' | 'diagnostics';
/** "Registered" stays up at least this long, and at most the second while no endpoint shows up. */
const REGISTERED_MIN_MS = 1200;
const REGISTERED_MAX_MS = 4000;

/** The desktop shell opens views by URL hash (e.g. `#settings` from the tray menu). */
function viewFromHash(): View {
  const hash = window.location.hash;
  return hash === '#settings' ? 'settings' : hash === '#diagnostics' ? 'diagnostics' : 'endpoints';
}

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function Fatal({ error }: { error: UserFacingError }): ReactElement {
  return (
    <div className="panel">
      <main className="fatal" role="alert">
        <Logo size={40} />
        <h2>Open the link from ngrokd</h2>
        <p>{error.message}</p>
        <p className="muted">{error.fix.replace(/`/g, '')}</p>
      </main>
    </div>
  );
}

function EmptyState(props: { status: StatusView; query: string; onTurnOn: () => void }): ReactElement {
  if (props.query !== '')
    return (
      <p className="empty" role="status">
        No endpoints match “{props.query}”.
      </p>
    );
  if (!props.status.enabled)
    return (
      <div className="empty" role="status">
        <PowerIcon className="empty-icon" width={36} height={36} />
        <p>ngrokd is off, so no local addresses are listening.</p>
        <button type="button" className="button button-primary" onClick={props.onTurnOn}>
          Turn on
        </button>
      </div>
    );
  return (
    <p className="empty" role="status">
      {props.status.registered
        ? 'No bound endpoints yet. Endpoints bound to Kubernetes in your ngrok account appear here.'
        : 'Registering with ngrok…'}
    </p>
  );
}

/** Where the focus goes after a view change, so a command never drops it on the page. */
type FocusTarget = 'filter' | 'switch' | 'settings-button' | 'settings-title' | null;

export function App({ bridge, surface }: { bridge: NgrokdBridge; surface: Surface }): ReactElement {
  const [snapshot, setSnapshot] = useState<StateSnapshot | null>(null);
  const [link, setLink] = useState<UserFacingError | null>(null);
  const [fatal, setFatal] = useState<UserFacingError | null>(null);
  const [view, setView] = useState<View>(viewFromHash);
  /** The endpoint (hostname) the requests view shows, null for all. */
  const [inspected, setInspected] = useState<string | null>(null);
  const [onboarding, setOnboarding] = useState<OnboardingStage | 'closed' | 'asked'>('closed');
  const [query, setQuery] = useState('');
  const [toggling, setToggling] = useState(false);
  const [actionError, setActionError] = useState<UserFacingError | null>(null);
  const [focusCa, setFocusCa] = useState(false);
  const [history] = useState(() => new TrafficHistory());
  const registeredAt = useRef(0);
  const now = useNow(1000);
  const { notice, copy } = useCopy();
  const filterRef = useRef<HTMLInputElement>(null);
  const switchRef = useRef<HTMLButtonElement>(null);
  const settingsButtonRef = useRef<HTMLButtonElement>(null);
  const settingsTitleRef = useRef<HTMLHeadingElement>(null);
  const listRef = useRef<EndpointListHandle>(null);
  const [focusTarget, setFocusTarget] = useState<FocusTarget>('filter');

  useEffect(
    () =>
      bridge.subscribe(
        (next) => {
          history.record(next, Date.now());
          setSnapshot(next);
        },
        (problem) => {
          setLink(problem);
          // Back in touch: a command that failed for the lost link is no longer a problem.
          if (problem === null) setActionError((e) => (e?.code === 'NOT_RUNNING' ? null : e));
        },
      ),
    [bridge, history],
  );

  useEffect(() => {
    const onHash = (): void => setView(viewFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // A wrong or missing token is fatal for the page; ask once so the user is told at once.
  useEffect(() => {
    bridge.invoke('hello', {}).catch((err: unknown) => {
      const error = asUserFacing(err);
      if (error.code === 'UI_TOKEN') setFatal(error);
    });
  }, [bridge]);

  /** A command's fresh status shows at once instead of with the next push. */
  const applyStatus = useCallback((status: StatusView) => {
    setSnapshot((s) => (s === null ? s : { ...s, status }));
  }, []);

  /** A command failed: a lost daemon is the link's problem (one banner), anything else the command's. */
  const commandFailed = useCallback((err: unknown) => {
    const error = asUserFacing(err);
    if (error.code === 'NOT_RUNNING') setLink((l) => l ?? error);
    else setActionError(error);
  }, []);

  const setEnabled = useCallback(
    async (enabled: boolean, focusAfter: FocusTarget = null) => {
      setToggling(true);
      setActionError(null);
      try {
        applyStatus(await bridge.invoke('setEnabled', { enabled }));
        if (focusAfter !== null) setFocusTarget(focusAfter);
      } catch (err) {
        commandFailed(err);
      } finally {
        setToggling(false);
      }
    },
    [bridge, applyStatus, commandFailed],
  );

  const submitKey = useCallback(
    async (apiKey: string) => {
      const status = await bridge.invoke('setApiKey', { apiKey });
      applyStatus(status);
      if (status.registered && !status.errors.some((e) => KEY_CODES.has(e.code))) {
        registeredAt.current = Date.now();
        setOnboarding('registered');
      }
      return status;
    },
    [bridge, applyStatus],
  );

  const openSettings = useCallback((options: { ca?: boolean } = {}) => {
    setFocusCa(options.ca === true);
    setView('settings');
    setFocusTarget(options.ca === true ? null : 'settings-title');
  }, []);
  const closeSettings = useCallback(() => {
    setView('endpoints');
    setFocusTarget('settings-button');
  }, []);

  const onProblemAction = useCallback(
    (kind: ProblemActionKind) => {
      if (kind === 'change-api-key') {
        setView('endpoints');
        setOnboarding('asked');
      } else if (kind === 'open-settings') openSettings();
      else if (kind === 'sign-out')
        openSettings(); // the Account section asks for confirmation
      else if (kind === 'choose-ca-file' && surface === 'browser') openSettings({ ca: true });
      else if (kind === 'choose-ca-file' || kind === 'install-helper')
        bridge.invoke('desktopAction', { action: kind }).then((result) => {
          if (!result.done) return;
          setActionError(null);
        }, commandFailed);
    },
    [bridge, surface, openSettings, commandFailed],
  );

  const endpoints = snapshot?.endpoints ?? [];
  const endpointCount = endpoints.length;
  useEffect(() => {
    if (onboarding !== 'registered') return;
    const shown = Date.now() - registeredAt.current;
    const wait = (endpointCount > 0 ? REGISTERED_MIN_MS : REGISTERED_MAX_MS) - shown;
    const timer = window.setTimeout(() => setOnboarding('closed'), Math.max(0, wait));
    return () => window.clearTimeout(timer);
  }, [onboarding, endpointCount]);

  const index = useMemo(() => searchIndex(endpoints), [endpoints]);
  const visible = useMemo(() => filterEndpoints(endpoints, index, query), [endpoints, index, query]);

  const onCopy = useCallback(
    (e: EndpointView, what: CopyWhat) => {
      const text = what === 'hostname' ? e.hostname : what === 'address' ? localAddress(e) : localUrl(e);
      void copy(text, `${what}\u0000${e.url}`);
    },
    [copy],
  );
  const onRowAction = useCallback(
    (e: EndpointView, action: RowAction) => {
      if (action === 'requests') {
        setInspected(e.hostname);
        setView('requests');
        setFocusTarget('settings-title');
        return;
      }
      const change =
        action === 'enable' || action === 'disable'
          ? { enabled: action === 'enable' }
          : { pinned: action === 'pin' };
      setActionError(null);
      bridge
        .invoke('setEndpoint', { host: e.hostname, ...change })
        .then((list) => setSnapshot((s) => (s === null ? s : { ...s, endpoints: list })), commandFailed);
    },
    [bridge, commandFailed],
  );
  const copied = useMemo(() => {
    if (notice === null || !notice.ok) return null;
    const [what, url] = notice.source.split('\u0000');
    return { url: url ?? '', what: what as CopyWhat };
  }, [notice]);

  const status = snapshot?.status ?? null;
  const copyDiagnostics = useCallback(
    (details: string) => {
      const about =
        status === null
          ? []
          : [`version: ${status.version}`, `mode: ${status.mode}`, `state: ${status.state}`];
      void copy([details, ...about, `surface: ${surface}`].join('\n'), 'diagnostics');
    },
    [copy, status, surface],
  );

  const needsKey = status?.state === 'needs_key';
  const showOnboarding =
    onboarding === 'registered' || onboarding === 'asked' || (needsKey && view === 'endpoints');
  const listShown = status !== null && view === 'endpoints' && !showOnboarding;

  // Focus follows the command that moved it (Back, Settings, Turn on), once the target exists.
  useEffect(() => {
    if (focusTarget === null) return;
    const el =
      focusTarget === 'filter'
        ? filterRef.current
        : focusTarget === 'switch'
          ? switchRef.current
          : focusTarget === 'settings-button'
            ? settingsButtonRef.current
            : settingsTitleRef.current;
    if (el === null) return;
    el.focus();
    setFocusTarget(null);
  });

  // Launcher keys: "/" focuses the filter, Escape closes Settings.
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      if (event.key === '/' && !isTyping(event.target) && listShown && filterRef.current !== null) {
        event.preventDefault();
        filterRef.current.focus();
        filterRef.current.select();
      } else if (event.key === 'Escape' && view === 'settings') {
        event.preventDefault();
        closeSettings();
      } else if (
        event.key === 'Escape' &&
        (view === 'requests' || view === 'diagnostics') &&
        !isTyping(event.target)
      ) {
        event.preventDefault();
        setView('endpoints');
        setFocusTarget('filter');
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [listShown, view, closeSettings]);

  if (fatal !== null || link?.code === 'UI_TOKEN')
    return <Fatal error={fatal ?? (link as UserFacingError)} />;
  if (snapshot === null || status === null)
    return (
      <div className="panel">
        <main className="loading" aria-busy="true">
          <Logo size={40} />
          <p className="muted">{link === null ? 'Connecting to ngrokd…' : 'Waiting for ngrokd…'}</p>
        </main>
      </div>
    );

  const linkLost = link !== null;
  const endpointProblems = endpoints.filter((e) => !e.listening && e.enabled !== false).length;
  // While the link is lost nothing else is known to be current: the lost link is the one banner.
  const errors = linkLost ? [link] : [...(actionError === null ? [] : [actionError]), ...status.errors];
  const banners = { surface, onAction: onProblemAction, onCopyDiagnostics: copyDiagnostics };

  let body: ReactElement;
  if (view === 'diagnostics')
    body = (
      <DiagnosticsView
        bridge={bridge}
        onBack={() => {
          setView('endpoints');
          setFocusTarget('filter');
        }}
        onCopy={(text, what) => void copy(text, what)}
        titleRef={settingsTitleRef}
      />
    );
  else if (view === 'requests')
    body = (
      <RequestsView
        bridge={bridge}
        endpoint={inspected}
        onBack={() => {
          setView('endpoints');
          setFocusTarget('filter');
        }}
        onCopy={(text, what) => void copy(text, what)}
        titleRef={settingsTitleRef}
      />
    );
  else if (view === 'settings')
    body = (
      <SettingsView
        bridge={bridge}
        status={status}
        surface={surface}
        now={now}
        onBack={closeSettings}
        onChangeKey={() => {
          setView('endpoints');
          setOnboarding('asked');
        }}
        onSignedOut={() => {
          setView('endpoints');
          setOnboarding('asked');
        }}
        focusCa={focusCa}
        onDiagnostics={() => {
          setView('diagnostics');
          setFocusTarget('settings-title');
        }}
        titleRef={settingsTitleRef}
      />
    );
  else if (showOnboarding)
    body = (
      <Onboarding
        stage={onboarding === 'registered' ? 'registered' : 'form'}
        status={status}
        surface={surface}
        onSubmit={submitKey}
        onCancel={
          needsKey
            ? null
            : () => {
                setOnboarding('closed');
                setFocusTarget('filter');
              }
        }
      />
    );
  else
    body = (
      <main className="main" aria-label="Endpoints">
        {errors.length > 0 && <ProblemBanners {...banners} errors={errors} />}
        <div
          className={linkLost ? 'endpoints endpoints-stale' : 'endpoints'}
          inert={linkLost}
          aria-disabled={linkLost ? true : undefined}
        >
          {endpoints.length > 0 && (
            <div className="search">
              <SearchIcon className="search-icon" />
              <input
                ref={filterRef}
                className="search-input"
                type="search"
                placeholder={`Filter ${endpoints.length.toLocaleString('en-US')} endpoint${endpoints.length === 1 ? '' : 's'}`}
                aria-label="Filter endpoints"
                aria-keyshortcuts="/"
                value={query}
                onChange={(e) => setQuery(e.target.value)}
                onKeyDown={(e) => {
                  const top = visible[0];
                  if (e.key === 'ArrowDown' && top !== undefined) {
                    e.preventDefault();
                    listRef.current?.focusFirst();
                  } else if (e.key === 'Enter' && top !== undefined) {
                    e.preventDefault();
                    onCopy(top, 'hostname');
                  }
                }}
              />
            </div>
          )}
          {visible.length === 0 ? (
            <EmptyState status={status} query={query} onTurnOn={() => void setEnabled(true, 'switch')} />
          ) : (
            <EndpointList
              handle={listRef}
              endpoints={visible}
              history={history}
              now={now}
              resetKey={query}
              copied={copied}
              onCopy={onCopy}
              onAction={onRowAction}
              label={query === '' ? 'Endpoints' : `Endpoints matching ${query}`}
            />
          )}
        </div>
      </main>
    );

  return (
    <div className="panel">
      <Header
        status={status}
        linkLost={linkLost}
        endpointProblems={endpointProblems}
        toggling={toggling}
        onToggle={(enabled) => void setEnabled(enabled)}
        onSettings={() => (view === 'settings' ? closeSettings() : openSettings())}
        totalRate={history.rate(TrafficHistory.TOTAL, now)}
        totalPoints={history.points(TrafficHistory.TOTAL, now, 90)}
        showTraffic={status.enabled && status.registered && listShown && !linkLost}
        banners={banners}
        switchRef={switchRef}
        settingsRef={settingsButtonRef}
      />
      {body}
      <footer className="footer">
        <span>
          {status.mode === 'user' ? 'User mode' : status.mode === 'helper' ? 'Helper' : 'Root'} ·{' '}
          <span className="mono">{status.interface.subnet}</span>
        </span>
        <span>v{status.version}</span>
      </footer>
      <div
        className={`toast${notice === null ? '' : notice.ok ? ' toast-visible' : ' toast-visible toast-error'}`}
        role="status"
        aria-live="polite"
      >
        {notice?.message ?? ''}
      </div>
    </div>
  );
}
