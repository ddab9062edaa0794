/**
 * The tray's context menu as a pure function of the state. Under Linux AppIndicator /
 * StatusNotifierItem a click on the icon may never reach the app and tooltips are rarely shown, so
 * the menu alone carries everything essential, in the order of the best menu-bar apps (Tailscale,
 * Docker Desktop): what ngrokd is doing, the toggle labelled by what it does, the current problem's
 * short title with its fix as an item, every endpoint (local address, copy, Open in Browser), an
 * update ready to install, the window and settings, About, Help and Quit. When the engine's state
 * cannot be read the menu says Disconnected and offers nothing that would act on stale state.
 */
import type {
  EndpointView,
  EngineState,
  StateSnapshot,
  StatusView,
  UpdateState,
} from '../common/contract.ts';
import type { UserFacingError } from '../common/errors.ts';
import { presentProblem, type ProblemActionKind } from '../common/presentation.ts';

/** The subset of Electron's MenuItemConstructorOptions the tray uses (assignable to it). */
export interface MenuTemplateItem {
  label?: string;
  type?: 'normal' | 'separator' | 'submenu' | 'checkbox';
  checked?: boolean;
  enabled?: boolean;
  toolTip?: string;
  accelerator?: string;
  click?: () => void;
  submenu?: MenuTemplateItem[];
}

/**
 * What the menu's items do; the shell wires them to the engine, the clipboard, the browser and the
 * window. The optional ones add their items only when given.
 */
export interface TrayActions {
  setEnabled(enabled: boolean): void;
  copy(text: string): void;
  openWindow(view?: 'settings' | 'diagnostics'): void;
  installHelper(): void;
  uninstallHelper(): void;
  quit(): void;
  /** Open a URL in the default browser ("Open in Browser", Help, the ngrok dashboard). */
  openUrl?(url: string): void;
  /** A problem's own fix (Change API key…, Choose CA file…, Install helper…); default: the window. */
  problemAction?(kind: ProblemActionKind): void;
  /** Quit and install the downloaded update. */
  restartToUpdate?(): void;
  /** Show the app's version (the About panel). */
  about?(): void;
  /** Turn one endpoint (by hostname) on or off, kept across restarts (the submenu's "On" item). */
  setEndpoint?(hostname: string, enabled: boolean): void;
  /** Run `doctor` and put its text report on the clipboard (Help → Copy Diagnostics Report). */
  copyDiagnostics?(): void;
}

export interface TrayMenuOptions {
  /** Kept for callers of the old menu; the helper is installed and removed from Settings now. */
  helperInstalled?: boolean;
  /** More endpoints than this collapse into one "N more…" item. */
  maxEndpointItems?: number;
  /** The app's updates: "Update available — Restart to update" once one is downloaded. */
  update?: UpdateState;
  /** The app's version, for About. */
  version?: string;
}

export const MAX_ENDPOINT_ITEMS = 25;
/** Where "Help" goes: the README (docs, troubleshooting). */
export const HELP_URL = 'https://github.com/ngrokd/ngrokd-desktop#readme';
export const DASHBOARD_URL = 'https://dashboard.ngrok.com/';
/** Menu labels longer than this are cut: a long error message would make the menu screen-wide. */
const MAX_LABEL = 80;

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `&` marks a mnemonic in menu labels on Linux and Windows; a literal one is doubled. */
function menuText(text: string, max = MAX_LABEL): string {
  return truncate(text, max).replace(/&/g, '&&');
}

/** Where to connect locally: the listen port, which user mode maps for privileged ports. */
export function endpointAddress(e: EndpointView): string {
  return `${e.ip}:${e.listen_port}`;
}

const DEFAULT_PORT: Partial<Record<EndpointView['proto'], number>> = { http: 80, https: 443 };

/**
 * A URL that works from this machine's browser, or null for tcp/tls endpoints: the hostname when
 * the hosts file has it (else the local IP), with the port actually listened on (user mode maps
 * :80 to :10080), left out when it is the scheme's default.
 */
export function browserUrl(e: EndpointView, status: Pick<StatusView, 'hosts_path'>): string | null {
  const defaultPort = DEFAULT_PORT[e.proto];
  if (defaultPort === undefined) return null;
  const host = status.hosts_path === null ? e.ip : e.hostname;
  const port = e.listen_port === defaultPort ? '' : `:${e.listen_port}`;
  return `${e.proto}://${host}${port}/`;
}

function endpointLabel(e: EndpointView): string {
  const mapped = e.listen_port === e.port ? '' : ` (for :${e.port})`;
  const state = !e.enabled ? ' — turned off' : e.listening ? '' : ' — not listening';
  return menuText(`${e.hostname}  ${endpointAddress(e)}${mapped}${state}`);
}

function endpointItem(e: EndpointView, status: StatusView, actions: TrayActions): MenuTemplateItem {
  const copyHostname = (): void => actions.copy(e.hostname);
  const url = browserUrl(e, status);
  const open: MenuTemplateItem[] =
    url === null || actions.openUrl === undefined
      ? []
      : [
          { label: 'Open in Browser', enabled: e.listening, click: () => actions.openUrl?.(url) },
          { type: 'separator' },
        ];
  return {
    label: endpointLabel(e),
    toolTip: e.last_error === null ? e.url : `${e.url}: ${e.last_error.message}`,
    // Where a parent item can be clicked it copies the hostname; elsewhere the submenu does.
    click: copyHostname,
    submenu: [
      ...open,
      { label: menuText(`Copy hostname  ${e.hostname}`), click: copyHostname },
      {
        label: menuText(`Copy IP:port  ${endpointAddress(e)}`),
        click: () => actions.copy(endpointAddress(e)),
      },
      { label: menuText(`Copy URL  ${url ?? e.url}`), click: () => actions.copy(url ?? e.url) },
      ...(actions.setEndpoint === undefined
        ? []
        : [
            { type: 'separator' as const },
            {
              label: 'On',
              type: 'checkbox' as const,
              checked: e.enabled,
              click: () => actions.setEndpoint?.(e.hostname, !e.enabled),
            },
          ]),
    ],
  };
}

/** The first current problem: its short title (opens the window), then its fix as an item. */
function errorItems(errors: readonly UserFacingError[], actions: TrayActions): MenuTemplateItem[] {
  const first = errors[0];
  if (first === undefined) return [];
  const presented = presentProblem(first, 'desktop');
  const more = errors.length > 1 ? ` (+${errors.length - 1} more)` : '';
  const prefix = 'Needs attention: ';
  const title = truncate(presented.title, MAX_LABEL - prefix.length - more.length);
  const items: MenuTemplateItem[] = [
    {
      label: menuText(`${prefix}${title}${more}`, Number.POSITIVE_INFINITY),
      toolTip: first.fix,
      click: () => actions.openWindow(),
    },
  ];
  const action = presented.action;
  if (action !== null) {
    items.push({
      label: menuText(action.label),
      click: () => (actions.problemAction ?? (() => actions.openWindow()))(action.kind),
    });
  }
  return items;
}

/** Warnings never make the state worse: their sentence (it carries the time left), opening the window. */
function warningItems(warnings: readonly UserFacingError[], actions: TrayActions): MenuTemplateItem[] {
  const first = warnings[0];
  if (first === undefined) return [];
  const prefix = 'Warning: ';
  const more = warnings.length > 1 ? ` (+${warnings.length - 1} more)` : '';
  const message = truncate(first.message, MAX_LABEL - prefix.length - more.length);
  return [
    {
      label: menuText(`${prefix}${message}${more}`, Number.POSITIVE_INFINITY),
      toolTip: first.fix,
      click: () => actions.openWindow(),
    },
  ];
}

function headline(snapshot: StateSnapshot): string {
  const { status } = snapshot;
  if (status.state === 'off') return 'ngrokd is off';
  if (status.state === 'needs_key') return 'ngrokd is not connected to an ngrok account';
  if (status.state === 'starting') return 'ngrokd is starting…';
  const count = status.endpoint_count;
  const endpoints = `${count} endpoint${count === 1 ? '' : 's'}`;
  return status.mode === 'user' ? `ngrokd is on: ${endpoints} (user mode)` : `ngrokd is on: ${endpoints}`;
}

function updateItems(update: UpdateState | undefined, actions: TrayActions): MenuTemplateItem[] {
  if (update === undefined) return [];
  if (update.status === 'ready' && actions.restartToUpdate !== undefined) {
    const version = update.version === null ? '' : ` (${update.version})`;
    return [
      {
        label: menuText(`Update available — Restart to update${version}`),
        click: () => actions.restartToUpdate?.(),
      },
      { type: 'separator' },
    ];
  }
  if (update.status === 'downloading') {
    const version = update.version === null ? '' : ` ${update.version}`;
    return [{ label: menuText(`Downloading update${version}…`), enabled: false }, { type: 'separator' }];
  }
  return [];
}

/** Open, Settings, About, Help, Quit: always there, also when disconnected. */
function appItems(options: TrayMenuOptions, actions: TrayActions): MenuTemplateItem[] {
  const items: MenuTemplateItem[] = [
    { label: 'Open ngrokd', click: () => actions.openWindow() },
    { label: 'Settings…', accelerator: 'CommandOrControl+,', click: () => actions.openWindow('settings') },
    { type: 'separator' },
  ];
  if (actions.about !== undefined) {
    const version = options.version === undefined ? '' : ` ${options.version}`;
    items.push({ label: `About ngrokd${version}`, click: () => actions.about?.() });
  }
  const help: MenuTemplateItem[] = [
    { label: 'Run Diagnostics…', click: () => actions.openWindow('diagnostics') },
    ...(actions.copyDiagnostics === undefined
      ? []
      : [{ label: 'Copy Diagnostics Report', click: () => actions.copyDiagnostics?.() }]),
    ...(actions.openUrl === undefined
      ? []
      : [
          { type: 'separator' as const },
          { label: 'Documentation', click: () => actions.openUrl?.(HELP_URL) },
        ]),
  ];
  items.push({ label: 'Help', submenu: help });
  items.push({ label: 'Quit ngrokd', accelerator: 'CommandOrControl+Q', click: () => actions.quit() });
  return items;
}

export function buildTrayMenu(
  snapshot: StateSnapshot,
  options: TrayMenuOptions,
  actions: TrayActions,
): MenuTemplateItem[] {
  const { status, endpoints } = snapshot;
  const cap = options.maxEndpointItems ?? MAX_ENDPOINT_ITEMS;
  const items: MenuTemplateItem[] = [{ label: headline(snapshot), enabled: false }];
  if (status.state === 'needs_key') {
    // First run: the one thing to do, first. (The problem below would say the same: not repeated.)
    items.push({ label: 'Connect ngrok account…', click: () => actions.openWindow() });
  } else {
    items.push({
      label: status.enabled ? 'Turn Off' : 'Turn On',
      click: () => actions.setEnabled(!status.enabled),
    });
    items.push(...errorItems(status.errors, actions));
  }
  // Absent from a daemon older than this shell.
  items.push(...warningItems(status.warnings ?? [], actions), { type: 'separator' });
  if (status.enabled && status.state !== 'needs_key') {
    if (endpoints.length === 0) items.push({ label: 'No bound endpoints', enabled: false });
    const shown = endpoints.slice(0, cap);
    for (const [i, e] of shown.entries()) {
      // Pinned endpoints come first (the engine sorts them): a line under the last one.
      if (i > 0 && shown[i - 1]?.pinned === true && !e.pinned) items.push({ type: 'separator' });
      items.push(endpointItem(e, status, actions));
    }
    if (endpoints.length > cap) {
      items.push({
        label: `${endpoints.length - cap} more… (Open window)`,
        click: () => actions.openWindow(),
      });
    }
    items.push({ type: 'separator' });
  }
  items.push(...updateItems(options.update, actions), ...appItems(options, actions));
  return items;
}

/**
 * The menu when the engine's state cannot be read (it stopped, is restarting, or stopped
 * answering): nothing on it acts on, or shows, the last state, which may no longer be true.
 */
export function buildDisconnectedMenu(
  reason: string,
  options: TrayMenuOptions,
  actions: TrayActions,
): MenuTemplateItem[] {
  return [
    { label: 'ngrokd is disconnected', enabled: false },
    { label: menuText(reason), enabled: false },
    { label: 'Turn Off', enabled: false },
    { type: 'separator' },
    ...updateItems(options.update, actions),
    ...appItems(options, actions),
  ];
}

export function disconnectedMenuKey(reason: string, options: TrayMenuOptions): string {
  return JSON.stringify(['disconnected', reason, updateKey(options.update), options.version]);
}

function updateKey(update: UpdateState | undefined): unknown {
  return update === undefined ? null : [update.status, update.version];
}

/**
 * The parts of the state the menu shows; traffic counters change every second and are left out, so
 * the menu is rebuilt only when something on it changes.
 */
export function trayMenuKey(snapshot: StateSnapshot, options: TrayMenuOptions): string {
  const cap = options.maxEndpointItems ?? MAX_ENDPOINT_ITEMS;
  const { status, endpoints } = snapshot;
  return JSON.stringify([
    status.state,
    status.enabled,
    status.mode,
    status.endpoint_count,
    status.hosts_path,
    updateKey(options.update),
    options.version,
    status.errors.slice(0, 1).map((e) => [e.code, e.message]),
    status.errors.length,
    (status.warnings ?? []).map((e) => [e.code, e.message]),
    endpoints
      .slice(0, cap)
      .map((e) => [
        e.hostname,
        e.ip,
        e.listen_port,
        e.port,
        e.url,
        e.proto,
        e.listening,
        e.enabled,
        e.pinned,
        e.last_error?.message,
      ]),
  ]);
}

/** The tray tooltip: one line (where a host shows it). */
export function trayToolTip(snapshot: StateSnapshot): string {
  const error = snapshot.status.errors[0];
  if (error !== undefined) return `${headline(snapshot)}: ${presentProblem(error, 'desktop').title}`;
  const warning = snapshot.status.warnings?.[0];
  return warning === undefined ? headline(snapshot) : `${headline(snapshot)}: ${warning.message}`;
}

/** Which icon the tray shows; `disconnected` when the state cannot be read (never the last one). */
export type TrayIconState = 'on' | 'off' | 'attention' | 'disconnected';

export const TRAY_ICON_STATES: readonly TrayIconState[] = ['on', 'off', 'attention', 'disconnected'];

const ICONS: Record<EngineState, TrayIconState> = {
  running: 'on',
  starting: 'on',
  degraded: 'attention',
  needs_key: 'attention',
  off: 'off',
};

export function trayIconState(snapshot: StateSnapshot): TrayIconState {
  return ICONS[snapshot.status.state];
}

function formatRate(bytesPerSecond: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytesPerSecond;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = value >= 100 || unit === 0 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}/s`;
}

/**
 * The live traffic title next to the macOS menu-bar icon: the total rates since the previous sample.
 * Empty when idle so the menu bar stays quiet.
 */
export function trafficTitle(
  previous: { bytes_in: number; bytes_out: number; at: number } | null,
  current: { bytes_in: number; bytes_out: number; at: number },
): string {
  if (previous === null || current.at <= previous.at) return '';
  const seconds = (current.at - previous.at) / 1000;
  const down = Math.max(0, current.bytes_in - previous.bytes_in) / seconds;
  const up = Math.max(0, current.bytes_out - previous.bytes_out) / seconds;
  if (down < 1 && up < 1) return '';
  return `↓${formatRate(down)} ↑${formatRate(up)}`;
}
