/**
 * The engine's command handlers as the desktop app serves them: settings gain the desktop fields
 * and are persisted, the API key goes to the OS keychain before the engine gets it (and is forgotten
 * on logout), and status and the state the shell's feed pushes carry the shell's own problems (e.g.
 * an unencrypted key store).
 */
import type { CommandHandlers, Settings, StateSnapshot, StatusView } from '../common/contract.ts';
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
  };
}
