/**
 * Keeps the tray in step with the state: the menu is rebuilt only when something on it changed and
 * at most once a second (rebuilding a menu with hundreds of items on every traffic tick would make
 * it flicker and close under the user's pointer); the icon, tooltip and traffic title follow.
 */
import type { StateSnapshot } from '../common/contract.ts';
import {
  buildTrayMenu,
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
}

export class TrayController<M, I> {
  readonly #o: TrayControllerOptions<M, I>;
  readonly #now: () => number;
  #menuKey = '';
  #builtAt = Number.NEGATIVE_INFINITY;
  #icon: TrayIconState | null = null;
  #toolTip = '';
  #title = '';
  #lastTotals: { bytes_in: number; bytes_out: number; at: number } | null = null;
  /** How many times the menu was built (tests, diagnostics). */
  builds = 0;

  constructor(options: TrayControllerOptions<M, I>) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  update(snapshot: StateSnapshot): void {
    const options = this.#o.options();
    const now = this.#now();
    const key = trayMenuKey(snapshot, options);
    if (key !== this.#menuKey && now - this.#builtAt >= (this.#o.minRebuildMs ?? 1000)) {
      this.#o.tray.setContextMenu(this.#o.buildMenu(buildTrayMenu(snapshot, options, this.#o.actions)));
      this.#menuKey = key;
      this.#builtAt = now;
      this.builds++;
    }
    const icon = trayIconState(snapshot);
    if (icon !== this.#icon) {
      this.#o.tray.setImage(this.#o.icons[icon]);
      this.#icon = icon;
    }
    const toolTip = trayToolTip(snapshot);
    if (toolTip !== this.#toolTip) {
      this.#o.tray.setToolTip(toolTip);
      this.#toolTip = toolTip;
    }
    this.#updateTitle(snapshot, options.trafficTitle, now);
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
