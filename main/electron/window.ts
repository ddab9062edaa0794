/**
 * The one app window: created on demand with the secure options, hidden rather than destroyed when
 * closed (the app lives in the tray), destroyed only on quit.
 */
import type { BrowserWindow, BrowserWindowConstructorOptions } from 'electron';
import { APP_ENTRY_URL, secureWindowOptions } from './security.ts';

/** Views the tray can open directly; the renderer reads the URL hash. */
export type WindowView = 'settings' | 'diagnostics';

export function windowUrl(view?: WindowView): string {
  return view === undefined ? APP_ENTRY_URL : `${APP_ENTRY_URL}#${view}`;
}

export interface AppWindowOptions {
  createWindow(options: BrowserWindowConstructorOptions): BrowserWindow;
  preload: string;
  devTools: boolean;
  icon?: string;
}

export class AppWindow {
  readonly #options: AppWindowOptions;
  #window: BrowserWindow | null = null;
  #quitting = false;

  constructor(options: AppWindowOptions) {
    this.#options = options;
  }

  get webContentsId(): number | null {
    return this.#window?.webContents.id ?? null;
  }

  show(view?: WindowView): void {
    const existing = this.#window;
    if (existing !== null && !existing.isDestroyed()) {
      if (view !== undefined) void existing.webContents.loadURL(windowUrl(view));
      if (existing.isMinimized()) existing.restore();
      existing.show();
      existing.focus();
      return;
    }
    const win = this.#options.createWindow({
      ...secureWindowOptions({ preload: this.#options.preload, devTools: this.#options.devTools }),
      ...(this.#options.icon === undefined ? {} : { icon: this.#options.icon }),
    });
    this.#window = win;
    win.on('close', (event) => {
      if (this.#quitting) return;
      event.preventDefault();
      win.hide();
    });
    win.on('closed', () => {
      if (this.#window === win) this.#window = null;
    });
    win.once('ready-to-show', () => {
      win.show();
      win.focus();
    });
    void win.loadURL(windowUrl(view));
  }

  /** On quit: let the window really close. */
  destroy(): void {
    this.#quitting = true;
    if (this.#window !== null && !this.#window.isDestroyed()) this.#window.destroy();
    this.#window = null;
  }
}
