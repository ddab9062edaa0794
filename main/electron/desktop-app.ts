/**
 * The desktop app: wires Electron (passed in, so this file never loads it) to the engine, the tray,
 * the window, the IPC bridge, notifications, settings, secrets and the helper flow. Each of those is
 * its own module; this one only decides who talks to whom and in which order things start and stop.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type * as ElectronModule from 'electron';
import type { StateSnapshot } from '../common/contract.ts';
import { formatDoctor } from '../common/doctor-report.ts';
import { errorCode, NgrokdError, toUserFacing, type UserFacingError } from '../common/errors.ts';
import type { ProblemActionKind } from '../common/presentation.ts';
import { startDaemon } from '../engine/daemon.ts';
import { parseConfigText, resolveConfig, validateConfig, type ResolvedConfig } from '../engine/config.ts';
import { HelperInstaller, helloVersion, sudoPromptElevator } from '../../helper/client/helper-installer.ts';
import { createLogger } from '../engine/log.ts';
import { VERSION } from '../engine/version.ts';
import { helperLayout, toHelperPlatform } from '../../helper/install/layout.ts';
import { StateFeed } from '../engine/state-feed.ts';
import { CLI_LINK, CliLink, LAUNCHER_DIR, LAUNCHER_NAME, uninstallCliCommand } from './cli-link.ts';
import { desktopHandlers, desktopSnapshot, type DesktopServices } from './desktop-handlers.ts';
import { EngineHost } from './engine-host.ts';
import { HELPER_RUNTIME, HelperFlow, type ConfirmRequest } from './helper-flow.ts';
import { registerBridge, WindowSubscriptions } from './ipc.ts';
import { setLinuxAutostart } from './login-item.ts';
import { Notifier } from './notifications.ts';
import { ApiKeyVault } from './secrets.ts';
import { APP_SCHEME, guardNavigation, guardSession, serveAppAsset } from './security.ts';
import { DesktopSettings, type DesktopFields, type PrefsBackend } from './settings-store.ts';
import { TrayController } from './tray.ts';
import { DASHBOARD_URL, TRAY_ICON_STATES, type TrayIconState } from './tray-menu.ts';
import { MAC_POLICY_KEY, UpdateController, updatePolicy, type UpdaterPort } from './updates.ts';
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
  | 'systemPreferences'
  | 'Tray'
>;

export interface DesktopAppOptions {
  electron: ElectronApi;
  /** electron-store over `prefsStoreOptions(cwd)`. */
  openPrefs(cwd: string): PrefsBackend;
  /** electron-updater's autoUpdater, loaded only when the installed app may update. */
  autoUpdater?: () => UpdaterPort;
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
    /** The CLI launcher /usr/local/bin/ngrokd links to (build.ts writes out/cli). */
    cliLauncher: packaged
      ? join(resourcesPath, LAUNCHER_DIR, LAUNCHER_NAME)
      : join(appPath, 'out', LAUNCHER_DIR, LAUNCHER_NAME),
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

/** No state for this long and the tray says Disconnected (ten of the shell's ticks). */
const TRAY_STALE_MS = 5_000;

export function trayIconFiles(platform: NodeJS.Platform): Record<TrayIconState, string> {
  // macOS: black + alpha "Template" images the menu bar tints; the @2x file is picked up by name.
  if (platform === 'darwin') {
    return {
      on: 'trayTemplate.png',
      off: 'trayOffTemplate.png',
      attention: 'trayAttentionTemplate.png',
      disconnected: 'trayDisconnectedTemplate.png',
    };
  }
  return {
    on: 'tray-on.png',
    off: 'tray-off.png',
    attention: 'tray-attention.png',
    disconnected: 'tray-disconnected.png',
  };
}

/** The config file's top-level object, unvalidated (validated once merged with the settings). */
async function readConfigObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new NgrokdError(
      'CONFIG_INVALID',
      `cannot read the config file ${path} (NGROKD_CONFIG): ${errorCode(err) ?? String(err)}`,
      'Fix the path in NGROKD_CONFIG, or unset it.',
    );
  }
  // A broken file is refused here, with its line; the settings are merged into the raw document.
  parseConfigText(text, path);
  const raw = parseYaml(text) as unknown;
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw)
    ? (raw as Record<string, unknown>)
    : {};
}

/** `over` wins, one level deep (bound_endpoints, net), so a setting keeps the file's other keys. */
export function mergeConfig(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const below = out[key];
    out[key] =
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof below === 'object' &&
      below !== null &&
      !Array.isArray(below)
        ? { ...below, ...value }
        : value;
  }
  return out;
}

/** "the engine is restarting" → "The engine is restarting": a menu line of its own. */
function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
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

  // NGROKD_CONFIG: a config file in the daemon's format to start from (an administrator's
  // defaults, a test's simulator); what the user set in Settings wins over it.
  const configFile = env.NGROKD_CONFIG || null;
  const desktopConfig = async (): Promise<ResolvedConfig> => {
    const base = configFile === null ? {} : await readConfigObject(configFile);
    const merged = mergeConfig(base, settings.engineConfig());
    const resolved = resolveConfig(validateConfig(merged, configFile ?? settings.path));
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
  // The desktop's feed: the engine's state with the shell's problems, whichever engine is current
  // (the host restarts it), on one clock for the window pushes, the tray and the notifications.
  // A tick without state (the engine restarting or gone) puts the tray in Disconnected.
  let trayController: TrayController<ElectronModule.Menu, ElectronModule.NativeImage> | null = null;
  const feed = new StateFeed({
    snapshot: desktopSnapshot(host, problems),
    intervalMs: SHELL_TICK_MS,
    onError: (err) => {
      const problem = toUserFacing(err, 'NOT_RUNNING');
      logger.debug({ err: problem }, 'no state this tick');
      trayController?.lost(sentence(problem.message));
    },
  });

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
    // Removing the helper removes the command-line link too, in the same prompt.
    uninstallPrelude: uninstallCliCommand(CLI_LINK, true),
  });
  const cli = new CliLink({
    launcher: paths.cliLauncher,
    // The prompt's child runs under the helper's Node (Electron's binary cannot run scripts).
    elevate: sudoPromptElevator({ node: join(paths.helper, HELPER_RUNTIME) }),
    env,
  });
  let last: StateSnapshot | null = null;
  const updates = new UpdateController({
    updater: () => (app.isPackaged && options.autoUpdater !== undefined ? options.autoUpdater() : null),
    policy: updatePolicy({
      env,
      platform,
      macManaged: () => electron.systemPreferences.getUserDefault(MAC_POLICY_KEY, 'boolean') === true,
    }),
    checksOn: () => settings.checkUpdates(),
    // The tray offers "Restart to update" as soon as the download is done.
    onChange: () => trayController?.refresh(last),
  });
  const helperSocket = helperLayout(toHelperPlatform(platform)).socketPath;
  const services: DesktopServices = {
    helper: {
      info: async () => {
        const version = userMode ? null : await helloVersion(VERSION, helperSocket).catch(() => null);
        return { installed: version !== null, version, current: version === VERSION };
      },
      install: () => helper.install('missing'),
      uninstall: () => helper.uninstall(),
    },
    cli: {
      path: cli.path,
      installed: async () => (await cli.state()).installed,
      install: () => cli.install(),
      uninstall: () => cli.uninstall(),
    },
    updates,
    chooseCaFile: async () => {
      const { canceled, filePaths } = await electron.dialog.showOpenDialog({
        title: 'Choose the CA certificate file for the ngrok ingress',
        buttonLabel: 'Trust This CA',
        properties: ['openFile'],
        filters: [{ name: 'PEM certificates', extensions: ['pem', 'crt', 'cer'] }],
      });
      return canceled ? null : (filePaths[0] ?? null);
    },
  };
  const handlers = desktopHandlers(host.handlers, {
    settings,
    vault,
    problems,
    applyDesktopSettings,
    services,
  });
  registerBridge(electron.ipcMain, handlers, new WindowSubscriptions(feed));

  const run = (promise: Promise<unknown>): void => {
    promise.then(
      () => feed.tick(),
      (err: unknown) => report(toUserFacing(err)),
    );
  };
  const openUrl = (url: string): void => {
    electron.shell.openExternal(url).catch((err: unknown) => report(toUserFacing(err)));
  };
  const problemAction = (kind: ProblemActionKind): void => {
    switch (kind) {
      case 'install-helper':
        return run(helper.install('missing'));
      case 'choose-ca-file':
        return run(
          Promise.resolve(handlers.desktopAction({ action: 'choose-ca-file' })).then((r) => {
            if (!r.done) return;
            void electron.dialog.showMessageBox({ type: 'info', message: r.message });
          }),
        );
      case 'open-dashboard':
        return openUrl(DASHBOARD_URL);
      case 'change-api-key':
      case 'sign-out':
      case 'open-settings':
        // The account (Change API key…, Sign out) and the subnet are in Settings.
        return window.show('settings');
    }
  };
  app.setAboutPanelOptions({ applicationName: 'ngrokd', applicationVersion: VERSION, version: VERSION });
  const images = trayIconFiles(platform);
  const icon = (state: TrayIconState) =>
    electron.nativeImage.createFromPath(join(paths.trayIcons, images[state]));
  const tray = new electron.Tray(icon('off'));
  if (platform === 'darwin') tray.setIgnoreDoubleClickEvents(true);
  // Where the icon's click reaches us (not under every StatusNotifierItem host), it opens the window.
  else tray.on('click', () => window.show());
  trayController = new TrayController<ElectronModule.Menu, ElectronModule.NativeImage>({
    tray: {
      setContextMenu: (menu) => tray.setContextMenu(menu),
      setToolTip: (text) => tray.setToolTip(text),
      setImage: (image) => tray.setImage(image),
      // A title next to the icon exists only in the macOS menu bar.
      setTitle: (title) => (platform === 'darwin' ? tray.setTitle(title) : undefined),
    },
    buildMenu: (template) => electron.Menu.buildFromTemplate(template),
    icons: Object.fromEntries(TRAY_ICON_STATES.map((state) => [state, icon(state)])) as Record<
      TrayIconState,
      ElectronModule.NativeImage
    >,
    options: () => ({
      update: updates.state,
      version: VERSION,
      trafficTitle: platform === 'darwin' && settings.desktopFields().traffic_title,
    }),
    actions: {
      setEnabled: (enabled) => run(Promise.resolve(handlers.setEnabled({ enabled }))),
      copy: (text) => electron.clipboard.writeText(text),
      openWindow: (view) => window.show(view),
      installHelper: () => run(helper.install('missing')),
      uninstallHelper: () => run(helper.uninstall()),
      quit: () => app.quit(),
      openUrl,
      problemAction,
      restartToUpdate: () => void updates.restartToUpdate(),
      about: () => app.showAboutPanel(),
      setEndpoint: (host, enabled) => run(Promise.resolve(handlers.setEndpoint({ host, enabled }))),
      copyDiagnostics: () =>
        run(
          Promise.resolve(handlers.doctor({})).then((report) =>
            electron.clipboard.writeText(formatDoctor(report)),
          ),
        ),
    },
    staleMs: TRAY_STALE_MS,
  });
  const trayNow = trayController;
  // The feed's clock could stop (a wedged tick): the tray does not keep saying what it last saw.
  const staleCheck = setInterval(() => trayNow.checkStale(), 1000);
  staleCheck.unref();
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
  everyTick((snapshot) => trayNow.update(snapshot));
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
    updates.stop();
    clearInterval(staleCheck);
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

  updates.start();

  const status = host.snapshot().status;
  if (status.errors.some((e) => e.code === 'API_KEY_MISSING')) window.show(); // onboarding
  if (userMode || status.mode === 'root') return;
  // After an app update the helper is older: upgraded through the version handshake, one prompt.
  const upgrade = await helper.upgradeIfStale(() => helloVersion(VERSION, helperSocket));
  if (upgrade === 'none' && settings.read().helper_prompted !== true) {
    // Asked once, on the first enable: when the engine is registered and would serve endpoints.
    const stop = everyTick((snapshot) => {
      if (!snapshot.status.registered || !snapshot.status.enabled || snapshot.status.mode !== 'user') return;
      stop();
      settings.update({ helper_prompted: true });
      run(helper.install('first-run'));
    });
  }
}
