/**
 * The desktop app's preferences, persisted with electron-store (a JSON file of mode 0600 in the
 * app's data directory). One schema: the contract's settings patch, plus what only the shell keeps.
 * The engine fields are stored so the next start uses them; the API key is never here (see secrets.ts).
 */
import { z } from 'zod';
import { settingsPatch, type Settings } from '../common/contract.ts';

/** Everything the store may hold. */
export const desktopPrefsSchema = settingsPatch.extend({
  /** The helper explanation was shown once; it is not shown again on every start. */
  helper_prompted: z.boolean().optional(),
});

export type DesktopPrefs = z.infer<typeof desktopPrefsSchema>;

type DesktopField = 'launch_at_login' | 'notifications' | 'traffic_title';
export type DesktopFields = Required<Pick<Settings, DesktopField>>;

export const DESKTOP_DEFAULTS: DesktopFields = {
  launch_at_login: false,
  notifications: true,
  traffic_title: false,
};

/** electron-store / conf options shared by the app and the tests. */
export function prefsStoreOptions(cwd: string): {
  cwd: string;
  schema: Record<string, object>;
  configFileMode: number;
  clearInvalidConfig: boolean;
} {
  const json = z.toJSONSchema(desktopPrefsSchema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, object>;
  };
  return {
    cwd,
    schema: json.properties ?? {},
    configFileMode: 0o600,
    // A file edited into an invalid state starts over from defaults instead of crashing the app.
    clearInvalidConfig: true,
  };
}

/** What the store needs from electron-store (or conf in tests). */
export interface PrefsBackend {
  readonly store: Record<string, unknown>;
  set(values: Record<string, unknown>): void;
  readonly path: string;
}

export class DesktopSettings {
  readonly #backend: PrefsBackend;

  constructor(backend: PrefsBackend) {
    this.#backend = backend;
  }

  get path(): string {
    return this.#backend.path;
  }

  /** The stored preferences; a value that fails the schema (hand-edited file) is ignored, not fatal. */
  read(): DesktopPrefs {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this.#backend.store)) {
      const field = desktopPrefsSchema.shape[key as keyof DesktopPrefs] as z.ZodType | undefined;
      if (field !== undefined && field.safeParse(value).success) out[key] = value;
    }
    return out as DesktopPrefs;
  }

  /** Persist a validated patch (fields not in it keep their value). */
  update(patch: DesktopPrefs): void {
    const values = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    if (Object.keys(values).length > 0) this.#backend.set(values);
  }

  /** Whether the app checks for updates (default on; a policy can still turn them off). */
  checkUpdates(): boolean {
    return this.read().check_updates ?? true;
  }

  /** The ingress CA file chosen in Settings, or null for none. */
  ingressCA(): string | null {
    return this.read().ingress_ca ?? null;
  }

  desktopFields(): DesktopFields {
    const prefs = this.read();
    return {
      launch_at_login: prefs.launch_at_login ?? DESKTOP_DEFAULTS.launch_at_login,
      notifications: prefs.notifications ?? DESKTOP_DEFAULTS.notifications,
      traffic_title: prefs.traffic_title ?? DESKTOP_DEFAULTS.traffic_title,
    };
  }

  /** The engine's part as a config fragment for validateConfig (absent keys keep the defaults). */
  engineConfig(): {
    bound_endpoints?: { poll_interval?: number; selectors?: string[] };
    net?: { subnet?: string; interface_name?: string };
    ingressCA?: string;
  } {
    const p = this.read();
    const pick = <T extends object>(o: T): T | undefined =>
      Object.values(o).some((v) => v !== undefined)
        ? (Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T)
        : undefined;
    const boundEndpoints = pick({ poll_interval: p.poll_interval, selectors: p.selectors });
    const net = pick({ subnet: p.subnet, interface_name: p.interface_name });
    return {
      ...(boundEndpoints === undefined ? {} : { bound_endpoints: boundEndpoints }),
      ...(net === undefined ? {} : { net }),
      // Chosen with "Choose CA file…"; null (cleared) means none, like an absent key.
      ...(typeof p.ingress_ca === 'string' ? { ingressCA: p.ingress_ca } : {}),
    };
  }
}
