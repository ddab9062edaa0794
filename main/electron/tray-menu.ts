/**
 * The tray's context menu as a pure function of the state. Under Linux AppIndicator /
 * StatusNotifierItem a click on the icon may never reach the app, so the menu alone carries
 * everything essential: the On/Off toggle, every endpoint with its copy actions, the current
 * problem and warning, the window, settings, the helper and Quit.
 */
import type { EndpointView, EngineState, StateSnapshot } from '../common/contract.ts';
import type { UserFacingError } from '../common/errors.ts';

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

/** What the menu's items do; the shell wires them to the engine, the clipboard and the window. */
export interface TrayActions {
  setEnabled(enabled: boolean): void;
  copy(text: string): void;
  openWindow(view?: 'settings'): void;
  installHelper(): void;
  uninstallHelper(): void;
  quit(): void;
}

export interface TrayMenuOptions {
  /** Whether the privileged helper is installed (offers Uninstall rather than Install). */
  helperInstalled: boolean;
  /** More endpoints than this collapse into one "N more…" item. */
  maxEndpointItems?: number;
}

export const MAX_ENDPOINT_ITEMS = 25;
/** Menu labels longer than this are cut: a long error message would make the menu screen-wide. */
const MAX_LABEL = 80;

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `&` marks a mnemonic in menu labels on Linux and Windows; a literal one is doubled. */
function menuText(text: string, max = MAX_LABEL): string {
  return truncate(text, max).replace(/&/g, '&&');
}

export function endpointAddress(e: EndpointView): string {
  return `${e.ip}:${e.listen_port}`;
}

function endpointLabel(e: EndpointView): string {
  const state = e.listening ? '' : ' (not listening)';
  return menuText(`${e.hostname}  ${e.proto} :${e.port}${state}`);
}

function endpointItem(e: EndpointView, actions: TrayActions): MenuTemplateItem {
  const copyHostname = (): void => actions.copy(e.hostname);
  return {
    label: endpointLabel(e),
    toolTip: e.last_error === null ? e.url : `${e.url}: ${e.last_error.message}`,
    // Where a parent item can be clicked it copies the hostname; elsewhere the first entry does.
    click: copyHostname,
    submenu: [
      { label: menuText(`Copy hostname  ${e.hostname}`), click: copyHostname },
      {
        label: menuText(`Copy IP:port  ${endpointAddress(e)}`),
        click: () => actions.copy(endpointAddress(e)),
      },
      { label: menuText(`Copy URL  ${e.url}`), click: () => actions.copy(e.url) },
    ],
  };
}

function problemItems(
  errors: readonly UserFacingError[],
  actions: TrayActions,
  prefix = 'Needs attention: ',
): MenuTemplateItem[] {
  const first = errors[0];
  if (first === undefined) return [];
  const more = errors.length > 1 ? ` (+${errors.length - 1} more)` : '';
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
  if (status.state === 'needs_key') return 'ngrokd is not set up';
  const count = status.endpoint_count;
  const endpoints = `${count} endpoint${count === 1 ? '' : 's'}`;
  return status.mode === 'user' ? `ngrokd is on: ${endpoints} (user mode)` : `ngrokd is on: ${endpoints}`;
}

export function buildTrayMenu(
  snapshot: StateSnapshot,
  options: TrayMenuOptions,
  actions: TrayActions,
): MenuTemplateItem[] {
  const { status, endpoints } = snapshot;
  const cap = options.maxEndpointItems ?? MAX_ENDPOINT_ITEMS;
  const items: MenuTemplateItem[] = [
    { label: headline(snapshot), enabled: false },
    {
      label: 'On',
      type: 'checkbox',
      checked: status.enabled,
      click: () => actions.setEnabled(!status.enabled),
    },
    ...problemItems(status.errors, actions),
    // Absent from a daemon older than this shell.
    ...problemItems(status.warnings ?? [], actions, 'Warning: '),
    { type: 'separator' },
  ];
  if (status.enabled) {
    if (endpoints.length === 0) items.push({ label: 'No bound endpoints', enabled: false });
    for (const e of endpoints.slice(0, cap)) items.push(endpointItem(e, actions));
    if (endpoints.length > cap) {
      items.push({
        label: `${endpoints.length - cap} more… (Open window)`,
        click: () => actions.openWindow(),
      });
    }
    items.push({ type: 'separator' });
  }
  items.push(
    { label: 'Open ngrokd', click: () => actions.openWindow() },
    { label: 'Settings…', accelerator: 'CommandOrControl+,', click: () => actions.openWindow('settings') },
    options.helperInstalled
      ? { label: 'Uninstall Helper…', click: () => actions.uninstallHelper() }
      : { label: 'Install Helper…', click: () => actions.installHelper() },
    { type: 'separator' },
    { label: 'Quit ngrokd', accelerator: 'CommandOrControl+Q', click: () => actions.quit() },
  );
  return items;
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
    options.helperInstalled,
    status.errors.map((e) => [e.code, e.message]),
    (status.warnings ?? []).map((e) => [e.code, e.message]),
    endpoints
      .slice(0, cap)
      .map((e) => [e.hostname, e.ip, e.listen_port, e.port, e.url, e.listening, e.last_error?.message]),
  ]);
}

/** The tray tooltip: one line. */
export function trayToolTip(snapshot: StateSnapshot): string {
  const problem = snapshot.status.errors[0] ?? snapshot.status.warnings?.[0];
  return problem === undefined ? headline(snapshot) : `${headline(snapshot)}: ${problem.message}`;
}

/** Which icon the tray shows. */
export type TrayIconState = 'on' | 'off' | 'attention';

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
