/**
 * The unprivileged side of installing the helper: decide whether it is needed, then run the whole
 * install as ONE elevated command, so the user sees one password prompt. sudo-prompt accepts a single
 * shell command string; every argument is single-quoted by shellQuote() and nothing else is ever
 * interpolated. A declined prompt is final for this session (no prompt loops): the app keeps running
 * in user mode until the user asks again.
 */
import { join } from 'node:path';
import { exec as sudoPromptExec } from '@vscode/sudo-prompt';
import { NgrokdError } from '../common/errors.ts';
import {
  DEFAULT_SOURCE_ROOT,
  expectApplied,
  INSTALLER_SCRIPT,
  installerArgs,
  type AppliedOutcome,
  type InstallerOutcome,
  type InstallerRequest,
} from '../../helper/install/cli.ts';
import { helperStatus } from '../../helper/install/installer.ts';
import { helperLayout, toHelperPlatform, type HelperPlatform } from '../../helper/install/layout.ts';
import { HelperClientOps } from './helper-client.ts';

/**
 * One POSIX shell word that stands for exactly `arg`: single quotes make every byte literal, and a
 * quote inside becomes '\''. NUL cannot be passed in argv at all, and line breaks are refused because
 * the prompt wrappers treat the command as a line.
 */
export function shellQuote(arg: string): string {
  if (/[\0\n\r]/.test(arg)) {
    throw new NgrokdError(
      'HELPER_ERROR',
      `argument ${JSON.stringify(arg)} contains a NUL or line break and cannot be passed to the elevated installer`,
      'Move the app (or the Node binary) to a path without line breaks, then install the helper again.',
    );
  }
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * The string to hand sudo-prompt so that `command` is what finally runs. On Linux sudo-prompt runs
 * `/bin/sh -c '… pkexec /bin/bash -c "<command>"'`, escaping only `"`: `\`, `$` and backquotes would
 * be interpreted by the outer shell, as the user, so they are escaped here. On macOS the command is
 * written verbatim into a script.
 */
export function sudoPromptCommand(command: string, platform: HelperPlatform): string {
  return platform === 'linux' ? command.replace(/[\\$`]/g, (ch) => `\\${ch}`) : command;
}

/** Runs a shell command with administrator rights; resolves with its stdout. */
export type Elevate = (command: string) => Promise<string>;

/** sudo-prompt's messages for "the user said no" and "there is nobody to ask". */
const DECLINED = 'User did not grant permission.';
const NO_PROMPT = [/No polkit authentication agent found/, /Unable to find pkexec or kdesudo/];

export const sudoPromptElevate: Elevate = (command) =>
  new Promise((resolve, reject) => {
    sudoPromptExec(
      sudoPromptCommand(command, toHelperPlatform(process.platform)),
      { name: 'ngrokd Desktop' },
      (err, stdout) => {
        const out = stdout === undefined ? '' : String(stdout);
        // A failing installer still prints its JSON outcome; let the caller read it.
        if (err !== undefined && err !== null && out.trim() === '') reject(err);
        else resolve(out);
      },
    );
  });

function declined(err: unknown): NgrokdError {
  const reason = err instanceof Error ? err.message : String(err);
  const noPrompt = NO_PROMPT.some((re) => re.test(reason));
  return new NgrokdError(
    'HELPER_MISSING',
    noPrompt
      ? `the privileged helper was not installed: no password prompt is available here (${reason}); running in user mode`
      : reason === DECLINED
        ? 'the privileged helper was not installed: the administrator prompt was declined; running in user mode'
        : `the privileged helper was not installed: ${reason}; running in user mode`,
    'Run `sudo npm run ngrokd -- helper install` (or use "Install helper" in the app) to get a real interface, /etc/hosts entries and ports 80/443.',
    { cause: err },
  );
}

function parseOutcome(stdout: string): InstallerOutcome | null {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null && 'ok' in value ? (value as InstallerOutcome) : null;
  } catch {
    return null;
  }
}

export interface HelperInstallerOptions {
  /** This app's version; a helper answering with any other version is replaced. */
  currentVersion: string;
  /**
   * The version the running helper reports, or null when none answers. Default: the hello
   * handshake on the helper's socket; under a root other than '/' (tests, packaging) the installed
   * manifest's version when the install is intact.
   */
  runningVersion?: () => Promise<string | null>;
  /** The user the helper will serve. Default: this process's uid. */
  uid?: number;
  /** Install root; '/' for real. */
  root?: string;
  platform?: HelperPlatform;
  /** App directory holding helper/, main/common/ and node_modules/. */
  sourceRoot?: string;
  /** Node binary installed as the helper's runtime. Default: this process's. */
  runtime?: string;
  /** Node binary that runs the elevated installer (Node 22: it runs TypeScript). Default: this process's. */
  installerNode?: string;
  elevate?: Elevate;
}

export interface EnsureHelperResult {
  action: 'none' | 'install' | 'upgrade' | 'reinstall';
  /** Version that was running (or installed) before. */
  previous: string | null;
  warnings: string[];
}

export class HelperInstaller {
  readonly #options: HelperInstallerOptions;
  readonly #platform: HelperPlatform;
  readonly #root: string;
  #declined: NgrokdError | null = null;

  constructor(options: HelperInstallerOptions) {
    this.#options = options;
    this.#platform = options.platform ?? toHelperPlatform(process.platform);
    this.#root = options.root ?? '/';
  }

  /** The one elevated command line for `request`. */
  command(request: InstallerRequest): string {
    const sourceRoot = this.#options.sourceRoot ?? DEFAULT_SOURCE_ROOT;
    const node = this.#options.installerNode ?? process.execPath;
    return shellCommand([node, join(sourceRoot, INSTALLER_SCRIPT), ...installerArgs(request)]);
  }

  /** Nothing when the right version answers; otherwise one prompt to install or upgrade. */
  async ensure(): Promise<EnsureHelperResult> {
    if (this.#declined !== null) throw this.#declined;
    const probe =
      this.#options.runningVersion ??
      (this.#root === '/'
        ? () => helloVersion(this.#options.currentVersion, helperLayout(this.#platform).socketPath)
        : () => this.#installedVersion());
    const running = await probe().catch(() => null);
    if (running === this.#options.currentVersion) return { action: 'none', previous: running, warnings: [] };
    const outcome = await this.install();
    const action = outcome.plan.action === 'uninstall' ? 'install' : outcome.plan.action;
    return { action, previous: running ?? outcome.plan.from, warnings: outcome.result.warnings };
  }

  /** Install (or upgrade to) the current version with one prompt. */
  async install(): Promise<AppliedOutcome> {
    return this.#elevated({
      command: 'install',
      root: this.#root,
      platform: this.#platform,
      version: this.#options.currentVersion,
      uid: this.#options.uid ?? process.getuid?.() ?? 0,
      sourceRoot: this.#options.sourceRoot ?? DEFAULT_SOURCE_ROOT,
      runtime: this.#options.runtime ?? process.execPath,
    });
  }

  async uninstall(): Promise<AppliedOutcome> {
    return this.#elevated({ command: 'uninstall', root: this.#root, platform: this.#platform });
  }

  /** The user asked again (e.g. clicked "Install helper"): allow another prompt. */
  reset(): void {
    this.#declined = null;
  }

  async #installedVersion(): Promise<string | null> {
    const status = await helperStatus({ root: this.#root, platform: this.#platform });
    return status.state === 'intact' ? status.version : null;
  }

  async #elevated(request: InstallerRequest): Promise<AppliedOutcome> {
    const elevate = this.#options.elevate ?? sudoPromptElevate;
    let stdout: string;
    try {
      stdout = await elevate(this.command(request));
    } catch (err) {
      this.#declined = declined(err);
      throw this.#declined;
    }
    const outcome = parseOutcome(stdout);
    if (outcome === null) {
      throw new NgrokdError(
        'HELPER_ERROR',
        `the elevated helper installer gave no result (output: ${JSON.stringify(stdout.slice(-200))})`,
        'Run `sudo npm run ngrokd -- helper install` to see the full output.',
      );
    }
    return expectApplied(outcome);
  }
}

/**
 * The version a helper listening on `socketPath` reports in its hello handshake; null when none
 * answers or it refuses this user (an install for this user fixes both).
 */
export async function helloVersion(appVersion: string, socketPath: string): Promise<string | null> {
  const client = new HelperClientOps({ appVersion, socketPath, requestTimeoutMs: 5_000 });
  try {
    return (await client.connect()).version;
  } catch {
    // A helper speaking another protocol still told its version before refusing.
    return client.helper?.version ?? null;
  } finally {
    client.close();
  }
}

/**
 * Make sure the helper of `currentVersion` runs: at most one prompt. Hold one HelperInstaller for
 * the app's lifetime instead, so a declined prompt is not asked again.
 */
export async function ensureHelper(options: HelperInstallerOptions): Promise<EnsureHelperResult> {
  return new HelperInstaller(options).ensure();
}
