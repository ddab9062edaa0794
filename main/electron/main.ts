/**
 * The Electron entry point (bundled to out/main/main.js). The only file that loads `electron`,
 * electron-store and electron-updater; everything else receives them, so it runs under unit tests
 * without Electron.
 */
import { createRequire } from 'node:module';
import electron from 'electron';
import ElectronStore from 'electron-store';
import type * as ElectronUpdater from 'electron-updater';
import { registerAppScheme, runDesktopApp } from './desktop-app.ts';
import { prefsStoreOptions } from './settings-store.ts';

const require = createRequire(import.meta.url);

registerAppScheme(electron);
runDesktopApp({
  electron,
  openPrefs: (cwd) => new ElectronStore<Record<string, unknown>>(prefsStoreOptions(cwd)),
  // Loaded on first use, and only by an installed app whose updates are not turned off.
  autoUpdater: () => (require('electron-updater') as typeof ElectronUpdater).autoUpdater,
}).catch((err: unknown) => {
  electron.dialog.showErrorBox(
    'ngrokd failed',
    err instanceof Error ? (err.stack ?? err.message) : String(err),
  );
  electron.app.exit(1);
});
