/**
 * The engine's command handlers as the desktop app serves them: settings gain the desktop fields
 * and are persisted, the API key goes to the OS keychain before the engine gets it (and is forgotten
 * on logout), and status carries the shell's own problems (e.g. an unencrypted key store).
 */
import type { CommandHandlers, Settings, StateSnapshot, StatusView } from '../common/contract.ts';
import type { UserFacingError } from '../common/errors.ts';
import type { ApiKeyVault } from './secrets.ts';
import type { DesktopFields, DesktopSettings } from './settings-store.ts';

export interface DesktopHandlerDeps {
  settings: DesktopSettings;
  vault: Pick<ApiKeyVault, 'save' | 'clear'>;
  /** The shell's current problems, appended to status.errors. */
  problems(): UserFacingError[];
  /** Desktop preferences were saved: apply launch at login, notifications, traffic title. */
  applyDesktopSettings(fields: DesktopFields): void;
}

export function withProblems(status: StatusView, problems: readonly UserFacingError[]): StatusView {
  if (problems.length === 0) return status;
  const errors = [...status.errors, ...problems];
  return { ...status, errors, last_error: status.last_error ?? errors[0] ?? null };
}

export function snapshotWithProblems(
  snapshot: StateSnapshot,
  problems: readonly UserFacingError[],
): StateSnapshot {
  return problems.length === 0 ? snapshot : { ...snapshot, status: withProblems(snapshot.status, problems) };
}

export function desktopHandlers(engine: CommandHandlers, deps: DesktopHandlerDeps): CommandHandlers {
  const decorate = (status: StatusView): StatusView => withProblems(status, deps.problems());
  const settings = async (): Promise<Settings> => ({
    ...(await engine.getSettings({})),
    ...deps.settings.desktopFields(),
    desktop: true,
  });
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
      return settings();
    },
    subscribe: async (params) => snapshotWithProblems(await engine.subscribe(params), deps.problems()),
  };
}
