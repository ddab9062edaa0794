/**
 * The desktop app: wires Electron (passed in, so this file never loads it) to the engine, the tray,
 * the window, the IPC bridge, notifications, settings, secrets and the helper flow. Each of those is
 * its own module; this one only decides who talks to whom and in which order things start and stop.
 */
import { join } from 'node:path';
import type * as ElectronModule from 'electron';
import type { StateSnapshot } from '../common/contract.ts';
import { toUserFacing, type UserFacingError } from '../common/errors.ts';
import { startDaemon } from '../engine/daemon.ts';
import { resolveConfig, validateConfig, type ResolvedConfig } from '../engine/config.ts';
import { HelperInstaller, helloVersion } from '../../helper/client/helper-installer.ts';
import { createLogger } from '../engine/log.ts';
import { VERSION } from '../engine/version.ts';
import { helperLayout, toHelperPlatform } from '../../helper/install/layout.ts';
import { StateFeed } from '../engine/state-feed.ts';
import { desktopHandlers, desktopSnapshot } from './desktop-handlers.ts';
import { EngineHost } from './engine-host.ts';
import { HelperFlow, type ConfirmRequest } from './helper-flow.ts';
import { registerBridge, WindowSubscriptions } from './ipc.ts';
import { setLinuxAutostart } from './login-item.ts';
import { Notifier } from './notifications.ts';
import { ApiKeyVault } from './secrets.ts';
import { APP_SCHEME, guardNavigation, guardSession, serveAppAsset } from './security.ts';
import { DesktopSettings, type DesktopFields, type PrefsBackend } from './settings-store.ts';
import { TrayController } from './tray.ts';
import type { TrayIconState } from './tray-menu.ts';
import { AppWindow } from './window.ts';

/** The Electron APIs the app uses; main.ts passes the real module. */
export type ElectronApi = Pick<
  typeof ElectronModule,
  | 'app'
  | 'BrowserWindow'
  | 'clipboard'
  | 'dialog'
  | 'ipcMain'
  | 'Menu'
  | 'nativeImage'
  | 'Notification'
  | 'powerMonitor'
  | 'protocol'
  | 'safeStorage'
  | 'session'
  | 'shell'
  | 'Tray'
>;

export interface DesktopAppOptions {
  electron: ElectronApi;
  /** electron-store over `prefsStoreOptions(cwd)`. */
  openPrefs(cwd: string): PrefsBackend;
  env?: NodeJS.ProcessEnv;
}

/** Where the app's files are: the asar root when packaged, the checkout under `electron .`. */
export function appPaths(appPath: string, resourcesPath: string, packaged: boolean) {
  return {
    renderer: join(appPath, 'renderer', 'dist'),
    preload: join(appPath, 'out', 'preload', 'preload.cjs'),
    trayIcons: join(appPath, 'assets', 'tray'),
    windowIcon: join(appPath, 'assets', 'icons', '512x512.png'),
    helper: packaged ? join(resourcesPath, 'helper') : join(appPath, 'out', 'helper'),
  };
}

/** Custom schemes must be registered before the app is ready. */
export function registerAppScheme(electron: Pick<ElectronApi, 'protocol'>): void {
  electron.protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

/** The desktop feed's clock: the tray and notifications follow every tick; a window gets what it asked (≥ 500 ms). */
const SHELL_TICK_MS = 500;

function trayIconFiles(platform: NodeJS.Platform): Record<TrayIconState, string> {
  // macOS: black + alpha "Template" images the menu bar tints; the @2x file is picked up by name.
  if (platform === 'darwin') {
    return { on: 'trayTemplate.png', off: 'trayOffTemplate.png', attention: 'trayAttentionTemplate.png' };
  }
  return { on: 'tray-on.png', off: 'tray-off.png', attention: 'tray-attention.png' };
}

export async function runDesktopApp(options: DesktopAppOptions): Promise<void> {
  const { electron } = options;
  const { app } = electron;
  const env = options.env ?? process.env;
  const platform = process.platform;

  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  app.on('window-all-closed', () => undefined); // closing the window does not quit a tray app
  await app.whenReady();
  app.dock?.hide(); // a menu-bar app (LSUIElement in Info.plist keeps it out of the Dock from launch)

  const logger = createLogger(env.NGROKD_LOG_LEVEL || 'warn');
  const paths = appPaths(app.getAppPath(), process.resourcesPath, app.isPackaged);
  const userData = app.getPath('userData');

  electron.protocol.handle(APP_SCHEME, async (request) => {
    const asset = await serveAppAsset(paths.renderer, request.url);
    return new Response(asset.body, { status: asset.status, headers: asset.headers });
  });
  guardSession(electron.session.defaultSession);
  app.on('web-contents-created', (_event, contents) =>
    guardNavigation(contents, (url) => electron.shell.openExternal(url)),
  );

  const settings = new DesktopSettings(options.openPrefs(userData));
  const vault = new ApiKeyVault({ safeStorage: electron.safeStorage, path: join(userData, 'api-key.enc') });
  const userMode = env.NGROKD_USER_MODE === '1';

  const desktopConfig = async (): Promise<ResolvedConfig> => {
    const resolved = resolveConfig(validateConfig(settings.engineConfig(), settings.path));
    return { ...resolved, apiKey: (await vault.load()) ?? resolved.apiKey };
  };
  const host = new EngineHost(async () => startDaemon(await desktopConfig(), { userMode, logger }));
  const problems = (): UserFacingError[] => {
    const problem = vault.problem();
    return problem === null ? [] : [problem];
  };

  const window = new AppWindow({
    createWindow: (o) => new electron.BrowserWindow(o),
    preload: paths.preload,
    devTools: !app.isPackaged,
    ...(platform === 'linux' ? { icon: paths.windowIcon } : {}),
  });

  const applyDesktopSettings = (fields: DesktopFields): void => {
    if (platform === 'linux') {
      setLinuxAutostart(fields.launch_at_login, env.APPIMAGE || process.execPath).catch((err: unknown) =>
        logger.warn({ err: toUserFacing(err) }, 'cannot update the autostart entry'),
      );
    } else {
      app.setLoginItemSettings({ openAtLogin: fields.launch_at_login });
    }
  };
  const handlers = desktopHandlers(host.handlers, { settings, vault, problems, applyDesktopSettings });

  // The desktop's feed: the engine's state with the shell's problems, whichever engine is current
  // (the host restarts it), on one clock for the window pushes, the tray and the notifications.
  const feed = new StateFeed({
    snapshot: desktopSnapshot(host, problems),
    intervalMs: SHELL_TICK_MS,
    onError: (err) => logger.debug({ err: toUserFacing(err) }, 'no state this tick'),
  });
  registerBridge(electron.ipcMain, handlers, new WindowSubscriptions(feed));

  const report = (error: UserFacingError): void => {
    void electron.dialog.showMessageBox({ type: 'error', message: error.message, detail: error.fix });
  };
  const confirm = async (request: ConfirmRequest): Promise<boolean> => {
    const { response } = await electron.dialog.showMessageBox({
      type: 'question',
      message: request.message,
      detail: request.detail,
      buttons: [request.confirm, 'Not Now'],
      defaultId: 0,
      cancelId: 1,
    });
    return response === 0;
  };
  const helper = new HelperFlow({
    currentVersion: VERSION,
    bundledSource: paths.helper,
    createInstaller: (o) => new HelperInstaller(o),
    confirm,
    report,
    restartEngine: async (during) => {
      await host.restart(during);
      feed.tick();
    },
    env,
  });

  let last: StateSnapshot | null = null;
  const run = (promise: Promise<unknown>): void => {
    promise.then(
      () => feed.tick(),
      (err: unknown) => report(toUserFacing(err)),
    );
  };
  const images = trayIconFiles(platform);
  const icon = (state: TrayIconState) =>
    electron.nativeImage.createFromPath(join(paths.trayIcons, images[state]));
  const tray = new electron.Tray(icon('off'));
  if (platform === 'darwin') tray.setIgnoreDoubleClickEvents(true);
  // Where the icon's click reaches us (not under every StatusNotifierItem host), it opens the window.
  else tray.on('click', () => window.show());
  const trayController = new TrayController<ElectronModule.Menu, ElectronModule.NativeImage>({
    tray: {
      setContextMenu: (menu) => tray.setContextMenu(menu),
      setToolTip: (text) => tray.setToolTip(text),
      setImage: (image) => tray.setImage(image),
      // A title next to the icon exists only in the macOS menu bar.
      setTitle: (title) => (platform === 'darwin' ? tray.setTitle(title) : undefined),
    },
    buildMenu: (template) => electron.Menu.buildFromTemplate(template),
    icons: { on: icon('on'), off: icon('off'), attention: icon('attention') },
    options: () => ({
      helperInstalled: last !== null && last.status.mode !== 'user',
      trafficTitle: platform === 'darwin' && settings.desktopFields().traffic_title,
    }),
    actions: {
      setEnabled: (enabled) => run(Promise.resolve(handlers.setEnabled({ enabled }))),
      copy: (text) => electron.clipboard.writeText(text),
      openWindow: (view) => window.show(view),
      installHelper: () => run(helper.install('missing')),
      uninstallHelper: () => run(helper.uninstall()),
      quit: () => app.quit(),
    },
  });
  const notifier = new Notifier({
    enabled: () => settings.desktopFields().notifications,
    show: (content) => {
      if (!electron.Notification.isSupported()) return;
      const notification = new electron.Notification({ ...content, silent: true });
      notification.on('click', () => window.show());
      notification.show();
    },
  });
  // Every tick, changed or not: the tray samples traffic rates, the notifier times its quiet periods.
  const everyTick = (use: (snapshot: StateSnapshot) => void) =>
    feed.listen({ every: 'tick', send: (event) => use(event.data) });
  everyTick((snapshot) => {
    last = snapshot;
  });
  everyTick((snapshot) => trayController.update(snapshot));
  everyTick((snapshot) => notifier.update(snapshot));

  app.on('second-instance', () => window.show());
  // Sooner than the engine's own clock check: connections of the old network go, the API is polled.
  electron.powerMonitor.on('resume', () => host.networkChanged('resume', 'the system resumed from sleep'));
  let stopped = false;
  app.on('before-quit', (event) => {
    if (stopped) return;
    // Undo what the engine set up (listeners, hosts section, addresses) before exiting.
    event.preventDefault();
    feed.close();
    window.destroy();
    void host
      .stop()
      .catch((err: unknown) => logger.error({ err: toUserFacing(err) }, 'engine stop failed'))
      .finally(() => {
        stopped = true;
        app.quit();
      });
  });

  applyDesktopSettings(settings.desktopFields());
  try {
    await host.start();
  } catch (err) {
    const problem = toUserFacing(err, 'CONFIG_INVALID');
    electron.dialog.showErrorBox('ngrokd cannot start', `${problem.message}\n\n${problem.fix}`);
    stopped = true;
    app.quit();
    return;
  }
  feed.tick();

  const status = host.snapshot().status;
  if (status.errors.some((e) => e.code === 'API_KEY_MISSING')) window.show(); // onboarding
  if (userMode || status.mode === 'root') return;
  const running = await helloVersion(VERSION, helperLayout(toHelperPlatform(platform)).socketPath);
  if (running !== null && running !== VERSION) {
    await helper.install('upgrade', running);
  } else if (running === null && settings.read().helper_prompted !== true) {
    // Asked once, on the first enable: when the engine is registered and would serve endpoints.
    const stop = everyTick((snapshot) => {
      if (!snapshot.status.registered || !snapshot.status.enabled || snapshot.status.mode !== 'user') return;
      stop();
      settings.update({ helper_prompted: true });
      run(helper.install('first-run'));
    });
  }
}
