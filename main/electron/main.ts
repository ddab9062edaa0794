/**
 * The Electron entry point (bundled to out/main/main.js). The only file that loads `electron` and
 * electron-store; everything else receives them, so it runs under unit tests without Electron.
 */
import electron from 'electron';
import ElectronStore from 'electron-store';
import { registerAppScheme, runDesktopApp } from './desktop-app.ts';
import { prefsStoreOptions } from './settings-store.ts';

registerAppScheme(electron);
runDesktopApp({
  electron,
  openPrefs: (cwd) => new ElectronStore<Record<string, unknown>>(prefsStoreOptions(cwd)),
}).catch((err: unknown) => {
  electron.dialog.showErrorBox(
    'ngrokd failed',
    err instanceof Error ? (err.stack ?? err.message) : String(err),
  );
  electron.app.exit(1);
});
