/**
 * The engine's command handlers as the desktop app serves them: settings gain the desktop fields
 * (and `desktop_info`: helper, command-line tool, updates) and are persisted, the API key goes to
 * the OS keychain before the engine gets it (and is forgotten on logout), `desktopAction` does what
 * only the app can (helper, CLI link, CA file picker, updates), and status and the state the shell's
 * feed pushes carry the shell's own problems (e.g. an unencrypted key store).
 */
import type {
  CommandHandlers,
  DesktopAction,
  DesktopActionResult,
  DesktopInfo,
  Settings,
  StateSnapshot,
  StatusView,
  UpdateState,
} from '../common/contract.ts';
import type { UserFacingError } from '../common/errors.ts';
import { withOutsideProblems } from '../engine/status-view.ts';
import type { ApiKeyVault } from './secrets.ts';
import type { DesktopFields, DesktopSettings } from './settings-store.ts';

export interface DesktopHandlerDeps {
  settings: DesktopSettings;
  vault: Pick<ApiKeyVault, 'save' | 'clear'>;
  /** The shell's current problems, appended to status.errors. */
  problems(): UserFacingError[];
  /** Desktop preferences were saved: apply launch at login, notifications, traffic title. */
  applyDesktopSettings(fields: DesktopFields): void;
  /** What desktopAction drives and desktop_info reports; without it desktopAction is the engine's refusal. */
  services?: DesktopServices;
}

/** The app's own parts, each in its module (helper-flow, cli-link, updates, the file dialog). */
export interface DesktopServices {
  helper: {
    info(): Promise<DesktopInfo['helper']>;
    /** One explanation, one prompt; true when the helper now runs (false: declined). */
    install(): Promise<boolean>;
    uninstall(): Promise<boolean>;
  };
  cli: {
    readonly path: string;
    installed(): Promise<boolean>;
    install(): Promise<{ done: boolean; message: string }>;
    uninstall(): Promise<{ done: boolean; message: string }>;
  };
  updates: {
    readonly state: UpdateState;
    check(): Promise<UpdateState>;
    /** False when no update is ready. */
    restartToUpdate(): boolean;
    /** `check_updates` changed. */
    settingsChanged(): void;
  };
  /** The OS file dialog for a PEM file; null when the user cancelled. */
  chooseCaFile(): Promise<string | null>;
}

/** `status` with the shell's problems appended (and the engine's state derived again with them). */
export function withProblems(status: StatusView, problems: readonly UserFacingError[]): StatusView {
  return withOutsideProblems(status, problems);
}

export function snapshotWithProblems(
  snapshot: StateSnapshot,
  problems: readonly UserFacingError[],
): StateSnapshot {
  return problems.length === 0 ? snapshot : { ...snapshot, status: withProblems(snapshot.status, problems) };
}

/** The snapshot the desktop's state feed takes: the engine's, with the shell's current problems. */
export function desktopSnapshot(
  engine: { snapshot(): StateSnapshot },
  problems: () => UserFacingError[],
): () => StateSnapshot {
  return () => snapshotWithProblems(engine.snapshot(), problems());
}

export function desktopHandlers(engine: CommandHandlers, deps: DesktopHandlerDeps): CommandHandlers {
  const decorate = (status: StatusView): StatusView => withProblems(status, deps.problems());
  const { services } = deps;
  const desktopInfo = async (s: DesktopServices): Promise<DesktopInfo> => {
    const [helper, cliInstalled] = await Promise.all([s.helper.info(), s.cli.installed().catch(() => false)]);
    return { helper, cli: { installed: cliInstalled, path: s.cli.path }, updates: s.updates.state };
  };
  const settings = async (): Promise<Settings> => ({
    ...(await engine.getSettings({})),
    ...deps.settings.desktopFields(),
    desktop: true,
    ...(services === undefined ? {} : { desktop_info: await desktopInfo(services) }),
  });
  const result = async (done: boolean, message: string): Promise<DesktopActionResult> => ({
    done,
    message,
    settings: await settings(),
  });
  const act = async (s: DesktopServices, action: DesktopAction): Promise<DesktopActionResult> => {
    switch (action) {
      case 'install-helper':
        return (await s.helper.install())
          ? result(true, 'The helper is installed: endpoints get their own addresses, names and ports.')
          : result(false, 'The helper was not installed; ngrokd runs in user mode.');
      case 'uninstall-helper':
        return (await s.helper.uninstall())
          ? result(true, 'The helper is removed; ngrokd runs in user mode.')
          : result(false, 'The helper was not removed.');
      case 'install-cli': {
        const r = await s.cli.install();
        return result(r.done, r.message);
      }
      case 'uninstall-cli': {
        const r = await s.cli.uninstall();
        return result(r.done, r.message);
      }
      case 'choose-ca-file': {
        const path = await s.chooseCaFile();
        if (path === null) return result(false, 'No CA file chosen; nothing changed.');
        // The engine loads it now (a file that is not PEM is refused with its name, changing nothing).
        await engine.updateSettings({ ingress_ca: path });
        deps.settings.update({ ingress_ca: path });
        return result(true, `The ingress is now also trusted through ${path}.`);
      }
      case 'check-for-updates': {
        const state = await s.updates.check();
        return result(
          state.status !== 'error' && state.status !== 'disabled',
          state.message ?? 'Checked for updates.',
        );
      }
      case 'restart-to-update':
        return s.updates.restartToUpdate()
          ? result(true, 'Restarting to install the update…')
          : result(false, 'No update is ready to install yet.');
    }
  };
  return {
    ...engine,
    status: async (params) => decorate(await engine.status(params)),
    setEnabled: async (params) => decorate(await engine.setEnabled(params)),
    setApiKey: async (params) => {
      // Saved first: a key the keychain refused is not used behind the user's back.
      await deps.vault.save(params.apiKey);
      return decorate(await engine.setApiKey(params));
    },
    logout: async (params) => {
      const result = await engine.logout(params);
      await deps.vault.clear();
      return result;
    },
    getSettings: settings,
    updateSettings: async (patch) => {
      await engine.updateSettings(patch);
      deps.settings.update(patch);
      deps.applyDesktopSettings(deps.settings.desktopFields());
      if (patch.check_updates !== undefined) services?.updates.settingsChanged();
      return settings();
    },
    desktopAction: async (params) => {
      // Failures are NgrokdErrors, which every bridge sends as { code, message, fix }.
      return services === undefined ? engine.desktopAction(params) : act(services, params.action);
    },
  };
}
