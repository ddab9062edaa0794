/**
 * Keeps the tray in step with the state: the menu is rebuilt only when something on it changed and
 * at most once a second (rebuilding a menu with hundreds of items on every traffic tick would make
 * it flicker and close under the user's pointer); the icon, tooltip and traffic title follow.
 * It never shows a state that may no longer be true: when the state cannot be read (`lost`) or no
 * state arrived for `staleMs` (`checkStale`), menu, icon and tooltip say Disconnected at once.
 */
import type { StateSnapshot } from '../common/contract.ts';
import {
  buildDisconnectedMenu,
  buildTrayMenu,
  disconnectedMenuKey,
  trafficTitle,
  trayIconState,
  trayMenuKey,
  trayToolTip,
  type MenuTemplateItem,
  type TrayActions,
  type TrayIconState,
  type TrayMenuOptions,
} from './tray-menu.ts';

/** The Tray calls used (Electron's Tray, or a fake in tests). */
export interface TrayLike<M, I> {
  setContextMenu(menu: M | null): void;
  setToolTip(toolTip: string): void;
  setTitle(title: string): void;
  setImage(image: I): void;
}

export interface TrayControllerOptions<M, I> {
  tray: TrayLike<M, I>;
  /** Menu.buildFromTemplate */
  buildMenu(template: MenuTemplateItem[]): M;
  icons: Record<TrayIconState, I>;
  actions: TrayActions;
  /** Read on every update: helper state and whether the traffic title is on. */
  options(): TrayMenuOptions & { trafficTitle: boolean };
  now?: () => number;
  /** Default 1000 ms. */
  minRebuildMs?: number;
  /** No state for this long means the link is lost. Default 5000 ms. */
  staleMs?: number;
}

/** Why the tray says Disconnected when states stop arriving. */
export const STALE_REASON = 'The engine stopped answering';

export class TrayController<M, I> {
  readonly #o: TrayControllerOptions<M, I>;
  readonly #now: () => number;
  #menuKey = '';
  #builtAt = Number.NEGATIVE_INFINITY;
  #icon: TrayIconState | null = null;
  #toolTip = '';
  #title = '';
  #lastTotals: { bytes_in: number; bytes_out: number; at: number } | null = null;
  #updatedAt: number;
  #lost: string | null = null;
  /** How many times the menu was built (tests, diagnostics). */
  builds = 0;

  constructor(options: TrayControllerOptions<M, I>) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#updatedAt = this.#now();
  }

  /** Whether the tray now says Disconnected (tests, diagnostics). */
  get disconnected(): boolean {
    return this.#lost !== null;
  }

  update(snapshot: StateSnapshot): void {
    const options = this.#o.options();
    const now = this.#now();
    const wasLost = this.#lost !== null;
    this.#lost = null;
    this.#updatedAt = now;
    const key = trayMenuKey(snapshot, options);
    // Coming back from Disconnected is shown at once, like going there.
    if (key !== this.#menuKey && (wasLost || now - this.#builtAt >= (this.#o.minRebuildMs ?? 1000))) {
      this.#setMenu(key, () => buildTrayMenu(snapshot, options, this.#o.actions), now);
    }
    this.#show(trayIconState(snapshot), trayToolTip(snapshot));
    this.#updateTitle(snapshot, options.trafficTitle, now);
  }

  /**
   * The state cannot be read (the engine stopped, is restarting, the link broke): Disconnected,
   * right away (no rebuild delay: the previous menu would act on a state that is gone).
   */
  lost(reason: string): void {
    const options = this.#o.options();
    const now = this.#now();
    this.#lost = reason;
    const key = disconnectedMenuKey(reason, options);
    if (key !== this.#menuKey) {
      this.#setMenu(key, () => buildDisconnectedMenu(reason, options, this.#o.actions), now);
    }
    this.#show('disconnected', `ngrokd is disconnected: ${reason}`);
    this.#lastTotals = null;
    if (this.#title !== '') {
      this.#o.tray.setTitle('');
      this.#title = '';
    }
  }

  /** Call on a timer: no state for `staleMs` is a lost link, whatever the last state said. */
  checkStale(): void {
    if (this.#lost === null && this.#now() - this.#updatedAt > (this.#o.staleMs ?? 5000)) {
      this.lost(STALE_REASON);
    }
  }

  /** Something the menu shows besides the state changed (an update was downloaded). */
  refresh(snapshot: StateSnapshot | null): void {
    if (this.#lost !== null) this.lost(this.#lost);
    else if (snapshot !== null) {
      this.#builtAt = Number.NEGATIVE_INFINITY;
      this.update(snapshot);
    }
  }

  #setMenu(key: string, build: () => MenuTemplateItem[], now: number): void {
    this.#o.tray.setContextMenu(this.#o.buildMenu(build()));
    this.#menuKey = key;
    this.#builtAt = now;
    this.builds++;
  }

  #show(icon: TrayIconState, toolTip: string): void {
    if (icon !== this.#icon) {
      this.#o.tray.setImage(this.#o.icons[icon]);
      this.#icon = icon;
    }
    if (toolTip !== this.#toolTip) {
      this.#o.tray.setToolTip(toolTip);
      this.#toolTip = toolTip;
    }
  }

  /** Rates need a second of history; sampled about once a second. */
  #updateTitle(snapshot: StateSnapshot, enabled: boolean, now: number): void {
    let title = '';
    if (enabled && snapshot.status.enabled) {
      const current = { ...snapshot.status.totals, at: now };
      if (this.#lastTotals !== null && now - this.#lastTotals.at < 1000) return;
      title = trafficTitle(this.#lastTotals, current);
      this.#lastTotals = current;
    } else {
      this.#lastTotals = null;
    }
    if (title !== this.#title) {
      this.#o.tray.setTitle(title);
      this.#title = title;
    }
  }
}
