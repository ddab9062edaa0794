/**
 * The app updates itself, on the user's terms: electron-updater reads the feed electron-builder
 * publishes (`publish` in electron-builder.yml: latest-mac.yml / latest-linux.yml), checks shortly
 * after start and then daily, downloads in the background, and installs only when the user picks
 * "Restart to update" or quits. Nothing is forced, no dialog takes focus. Checks can be turned off
 * by the user (the `check_updates` setting) or by policy, which the user cannot override:
 *  - the environment: NGROKD_DISABLE_UPDATES=1;
 *  - a system file, root-owned: /etc/ngrokd/policy.json with {"disable_updates": true};
 *  - on macOS, a managed preference (MDM profile) `DisableUpdates` = true for dev.ngrokd.desktop.
 * After an app update the helper is upgraded by the version handshake at the next start (one prompt).
 */
import { readFileSync } from 'node:fs';
import type { AppUpdaterEvents } from 'electron-updater/out/AppUpdater.js';
import type { UpdateState } from '../common/contract.ts';

export const POLICY_FILE = '/etc/ngrokd/policy.json';
export const POLICY_ENV = 'NGROKD_DISABLE_UPDATES';
/** The managed-preference key on macOS (domain: the app id, dev.ngrokd.desktop). */
export const MAC_POLICY_KEY = 'DisableUpdates';
/** The first check waits for the app to settle; then one a day. */
export const FIRST_CHECK_DELAY_MS = 30_000;
export const CHECK_INTERVAL_MS = 24 * 60 * 60 * 1000;

export interface UpdatePolicy {
  /** Updates are turned off by an administrator. */
  managed: boolean;
  /** Which switch did it, for the sentence in Settings. */
  source: string | null;
}

export interface UpdatePolicySources {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** Reads POLICY_FILE; throws ENOENT when there is none. Default: fs.readFileSync. */
  readPolicyFile?: (path: string) => string;
  /** macOS: the managed preference (Electron's systemPreferences.getUserDefault). */
  macManaged?: () => boolean;
}

/** Whether an administrator turned updates off. A policy file that cannot be read turns them off. */
export function updatePolicy(sources: UpdatePolicySources): UpdatePolicy {
  const flag = sources.env[POLICY_ENV];
  if (flag !== undefined && flag !== '' && flag !== '0' && flag.toLowerCase() !== 'false') {
    return { managed: true, source: `${POLICY_ENV}=${flag}` };
  }
  if (sources.platform === 'darwin' && sources.macManaged?.() === true) {
    return { managed: true, source: `the managed preference ${MAC_POLICY_KEY}` };
  }
  let text: string;
  try {
    text = (sources.readPolicyFile ?? ((path) => readFileSync(path, 'utf8')))(POLICY_FILE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { managed: false, source: null };
    // An administrator meant something: fail closed rather than update against their policy.
    return { managed: true, source: `${POLICY_FILE} (unreadable)` };
  }
  try {
    const policy = JSON.parse(text) as unknown;
    if (typeof policy === 'object' && policy !== null && 'disable_updates' in policy) {
      const value = (policy as { disable_updates: unknown }).disable_updates;
      return value === false ? { managed: false, source: null } : { managed: true, source: POLICY_FILE };
    }
    return { managed: false, source: null };
  } catch {
    return { managed: true, source: `${POLICY_FILE} (not valid JSON)` };
  }
}

type UpdaterEvent =
  | 'checking-for-update'
  | 'update-not-available'
  | 'update-available'
  | 'download-progress'
  | 'update-downloaded'
  | 'error';

/** What the controller needs of electron-updater's autoUpdater (a fake in tests). */
export interface UpdaterPort {
  autoDownload: boolean;
  autoInstallOnAppQuit: boolean;
  on<E extends UpdaterEvent>(event: E, listener: AppUpdaterEvents[E]): unknown;
  checkForUpdates(): Promise<unknown>;
  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean): void;
}

export interface UpdateControllerOptions {
  /** electron-updater's autoUpdater, created on first use; null when this app cannot update (a checkout). */
  updater: () => UpdaterPort | null;
  policy: UpdatePolicy;
  /** The user's `check_updates` setting (default on). */
  checksOn: () => boolean;
  /** Called whenever the state changes (the tray and the settings follow). */
  onChange?: (state: UpdateState) => void;
  /** setTimeout-like; returns a cancel function. */
  schedule?: (run: () => void, ms: number) => () => void;
  now?: () => Date;
  firstCheckDelayMs?: number;
  intervalMs?: number;
}

const NOT_INSTALLED = 'Updates apply to the installed app; this one runs from a checkout.';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Short and plain: electron-updater's errors carry whole HTTP responses. */
function checkFailed(err: unknown): string {
  const first = messageOf(err).split('\n')[0] ?? '';
  return `Could not check for updates (${first.slice(0, 160)}). ngrokd tries again tomorrow, or use Check for Updates.`;
}

export class UpdateController {
  readonly #o: UpdateControllerOptions;
  readonly #schedule: (run: () => void, ms: number) => () => void;
  #updater: UpdaterPort | null | undefined;
  #state: UpdateState;
  #cancel: (() => void) | null = null;
  #checking: Promise<UpdateState> | null = null;

  constructor(options: UpdateControllerOptions) {
    this.#o = options;
    this.#schedule =
      options.schedule ??
      ((run, ms) => {
        const timer = setTimeout(run, ms);
        timer.unref();
        return () => clearTimeout(timer);
      });
    this.#state = {
      enabled: false,
      managed: options.policy.managed,
      status: 'disabled',
      version: null,
      message: null,
      checked_at: null,
    };
    this.#state = { ...this.#state, ...this.#idleState() };
  }

  get state(): UpdateState {
    return this.#state;
  }

  /** Start the clock: a check soon after start, then daily (only while checks are on). */
  start(): void {
    this.#cancel?.();
    this.#cancel = null;
    this.#set(this.#state.status === 'ready' ? {} : this.#idleState());
    if (!this.#allowed()) return;
    const loop = (delay: number): void => {
      this.#cancel = this.#schedule(() => {
        void this.check().finally(() => loop(this.#o.intervalMs ?? CHECK_INTERVAL_MS));
      }, delay);
    };
    loop(this.#o.firstCheckDelayMs ?? FIRST_CHECK_DELAY_MS);
  }

  /** The user changed `check_updates`: restart or stop the clock. */
  settingsChanged(): void {
    this.start();
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = null;
  }

  /** Check now (the daily check, or the user's Check for Updates). Resolves with the state after it. */
  async check(): Promise<UpdateState> {
    if (this.#o.policy.managed) return this.#state;
    if (this.#state.status === 'ready') return this.#state;
    const updater = this.#port();
    if (updater === null) return this.#state;
    this.#checking ??= (async () => {
      try {
        this.#set({ status: 'checking', message: null });
        await updater.checkForUpdates();
        // Without an event (a null result), the check still ended.
        if (this.#state.status === 'checking')
          this.#set({ status: 'idle', message: 'ngrokd is up to date.' });
      } catch (err) {
        this.#set({ status: 'error', message: checkFailed(err) });
      } finally {
        this.#set({ checked_at: (this.#o.now?.() ?? new Date()).toISOString() });
        this.#checking = null;
      }
      return this.#state;
    })();
    return this.#checking;
  }

  /** Quit and install the downloaded update (the user asked). False when none is ready. */
  restartToUpdate(): boolean {
    const updater = this.#port();
    if (updater === null || this.#state.status !== 'ready') return false;
    // Not silent (the installer may show progress), and the app starts again afterwards.
    updater.quitAndInstall(false, true);
    return true;
  }

  #allowed(): boolean {
    return !this.#o.policy.managed && this.#o.checksOn() && this.#port() !== null;
  }

  #idleState(): Partial<UpdateState> {
    const { policy } = this.#o;
    if (policy.managed) {
      return {
        enabled: false,
        status: 'disabled',
        message: `Updates are turned off by your administrator (${policy.source ?? 'policy'}).`,
      };
    }
    if (!this.#o.checksOn()) {
      return { enabled: false, status: 'disabled', message: 'Automatic update checks are off.' };
    }
    if (this.#port() === null) return { enabled: true, status: 'disabled', message: NOT_INSTALLED };
    return {
      enabled: true,
      status: this.#state.status === 'disabled' ? 'idle' : this.#state.status,
    };
  }

  #port(): UpdaterPort | null {
    if (this.#updater !== undefined) return this.#updater;
    if (this.#o.policy.managed) return null; // never even loaded against the policy
    const updater = this.#o.updater();
    this.#updater = updater;
    if (updater === null) return null;
    // Downloaded in the background; installed when the user restarts, or at their next quit.
    updater.autoDownload = true;
    updater.autoInstallOnAppQuit = true;
    updater.on('checking-for-update', () => this.#set({ status: 'checking', message: null }));
    updater.on('update-not-available', () => this.#set({ status: 'idle', message: 'ngrokd is up to date.' }));
    updater.on('update-available', (info) =>
      this.#set({
        status: 'downloading',
        version: info.version,
        message: `Downloading ngrokd ${info.version}…`,
      }),
    );
    updater.on('download-progress', (progress) => {
      if (this.#state.status === 'ready') return;
      const percent = Math.floor(progress.percent);
      this.#set({
        status: 'downloading',
        message: `Downloading ngrokd ${this.#state.version ?? ''} (${percent}%)…`,
      });
    });
    updater.on('update-downloaded', (info) =>
      this.#set({
        status: 'ready',
        version: info.version,
        message: `ngrokd ${info.version} is ready: restart ngrokd to update.`,
      }),
    );
    updater.on('error', (err) => {
      // A failed later check never hides an update that is ready.
      if (this.#state.status !== 'ready') this.#set({ status: 'error', message: checkFailed(err) });
    });
    return updater;
  }

  #set(patch: Partial<UpdateState>): void {
    const next = { ...this.#state, ...patch };
    if (JSON.stringify(next) === JSON.stringify(this.#state)) return;
    this.#state = next;
    this.#o.onChange?.(next);
  }
}
