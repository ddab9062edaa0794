/**
 * The command-line tool on the PATH, as Tailscale and Docker Desktop do it: `/usr/local/bin/ngrokd`
 * is a symlink to the launcher shipped in the app (Resources/cli/ngrokd), which runs the bundled CLI
 * with the app's own Node runtime (the helper's, Resources/helper/bin/node). Made and removed with one
 * password prompt; only a link that points at an ngrokd launcher is ever replaced or removed, never a
 * file or another tool's link. The elevated command is a fixed script with its paths as quoted
 * positional arguments: no path is ever interpolated into shell code.
 */
import { lstat, readlink } from 'node:fs/promises';
import { shellCommand } from '../../helper/client/helper-stage.ts';

export const CLI_LINK = '/usr/local/bin/ngrokd';
/** The launcher's place inside the app: Resources/cli/ngrokd (out/cli/ngrokd in a checkout). */
export const LAUNCHER_DIR = 'cli';
export const LAUNCHER_NAME = 'ngrokd';
export const CLI_BUNDLE_NAME = 'ngrokd.mjs';

/** A link is ours when it points at an ngrokd launcher: this app's, or another copy's (an older install). */
export function isLauncherTarget(target: string, launcher: string): boolean {
  return target === launcher || /[\\/](?:Resources|resources|out)[\\/]cli[\\/]ngrokd$/.test(target);
}

export interface CliLinkState {
  /** The link exists and points at an ngrokd launcher. */
  installed: boolean;
  /** It points at this app's launcher (not an older copy's). */
  current: boolean;
  /** Something else is at the path (a file, another tool's link): never touched. */
  foreign: boolean;
}

export async function cliLinkState(linkPath: string, launcher: string): Promise<CliLinkState> {
  const info = await lstat(linkPath).catch(() => null);
  if (info === null) return { installed: false, current: false, foreign: false };
  if (!info.isSymbolicLink()) return { installed: false, current: false, foreign: true };
  const target = await readlink(linkPath);
  const ours = isLauncherTarget(target, launcher);
  return { installed: ours, current: ours && target === launcher, foreign: !ours };
}

/** The same rule as isLauncherTarget, as shell patterns (one line: the elevated command has no line breaks). */
const OUR_TARGETS = '*/Resources/cli/ngrokd|*/resources/cli/ngrokd|*/out/cli/ngrokd';

/** sudo-prompt's answer when the user declined. */
const DECLINED = 'User did not grant permission.';

/**
 * `$1` launcher, `$2` link. Refuses (exit 3) to replace anything but an ngrokd launcher link; the
 * directory is made when missing (a fresh macOS has no /usr/local/bin).
 */
const INSTALL_SCRIPT = [
  'set -e',
  'if [ -e "$2" ] || [ -L "$2" ]; then if [ ! -L "$2" ]; then echo refused; exit 3; fi',
  `case "$(readlink -- "$2")" in "$1"|${OUR_TARGETS}) ;; *) echo refused; exit 3;; esac`,
  'fi',
  'mkdir -p -- "$(dirname -- "$2")"',
  'ln -sfn -- "$1" "$2"',
  'echo installed',
].join('; ');

/** `$1` link: removed only when it is a link to an ngrokd launcher. */
const UNINSTALL_SCRIPT = [
  `if [ -L "$1" ]; then case "$(readlink -- "$1")" in ${OUR_TARGETS}) rm -f -- "$1"; echo removed; exit 0;; esac`,
  'fi',
  'echo kept',
].join('; ');

/** The one elevated command that links `linkPath` to `launcher`. */
export function installCliCommand(launcher: string, linkPath: string = CLI_LINK): string {
  return shellCommand(['/bin/sh', '-c', INSTALL_SCRIPT, 'ngrokd-cli', launcher, linkPath]);
}

/**
 * The elevated command that removes `linkPath` if it is ours; prints nothing, so it can run
 * before the helper's uninstaller in the same prompt (whose last line is its JSON outcome).
 */
export function uninstallCliCommand(linkPath: string = CLI_LINK, quiet = false): string {
  const command = shellCommand(['/bin/sh', '-c', UNINSTALL_SCRIPT, 'ngrokd-cli', linkPath]);
  return quiet ? `${command} >/dev/null 2>&1` : command;
}

/** Runs a shell command with administrator rights (helper-installer's sudo-prompt elevator). */
export type Elevate = (command: string) => Promise<string>;

export interface CliLinkOptions {
  /** The launcher shipped in the app. */
  launcher: string;
  linkPath?: string;
  elevate: Elevate;
  env?: NodeJS.ProcessEnv;
}

export interface CliLinkResult {
  /** False when nothing changed (declined, refused, not possible). */
  done: boolean;
  /** A sentence for the user; on failure it says what to do. */
  message: string;
}

export class CliLink {
  readonly #o: CliLinkOptions;

  constructor(options: CliLinkOptions) {
    this.#o = options;
  }

  get path(): string {
    return this.#o.linkPath ?? CLI_LINK;
  }

  state(): Promise<CliLinkState> {
    return cliLinkState(this.path, this.#o.launcher);
  }

  async install(): Promise<CliLinkResult> {
    const env = this.#o.env ?? process.env;
    if (env.APPIMAGE) {
      // The AppImage's files are mounted at a new path on every launch: a link would break at the next one.
      return {
        done: false,
        message: `The command-line tool cannot be linked from an AppImage, whose files move at every launch. Run it from the AppImage's extracted folder, or from a checkout with \`npm run ngrokd\`.`,
      };
    }
    const state = await this.state();
    if (state.current) return { done: true, message: `${this.path} is already installed.` };
    if (state.foreign) {
      return {
        done: false,
        message: `${this.path} exists and is not ngrokd's: it was left alone. Remove it yourself, then try again.`,
      };
    }
    return this.#run(installCliCommand(this.#o.launcher, this.path), 'installed', {
      done: `Installed ${this.path}: run \`ngrokd status\` in a terminal.`,
      refused: `${this.path} exists and is not ngrokd's: it was left alone. Remove it yourself, then try again.`,
    });
  }

  async uninstall(): Promise<CliLinkResult> {
    const state = await this.state();
    if (!state.installed) {
      return {
        done: false,
        message: state.foreign
          ? `${this.path} is not ngrokd's: it was left alone.`
          : `${this.path} is not installed.`,
      };
    }
    return this.#run(uninstallCliCommand(this.path), 'removed', {
      done: `Removed ${this.path}.`,
      refused: `${this.path} is not ngrokd's: it was left alone.`,
    });
  }

  async #run(
    command: string,
    success: string,
    says: { done: string; refused: string },
  ): Promise<CliLinkResult> {
    let stdout: string;
    try {
      stdout = await this.#o.elevate(command);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (reason === DECLINED)
        return { done: false, message: 'Nothing changed: the password prompt was declined.' };
      return {
        done: false,
        message: `Could not change ${this.path}: ${reason.split('\n')[0] ?? reason}. Try again, or link it in a terminal: sudo ln -s '${this.#o.launcher}' ${this.path}`,
      };
    }
    const outcome = stdout.trim().split('\n').at(-1);
    if (outcome === success) return { done: true, message: says.done };
    if (outcome === 'refused' || outcome === 'kept') return { done: false, message: says.refused };
    return {
      done: false,
      message: `Could not change ${this.path} (the command said ${JSON.stringify(stdout.slice(-200))}).`,
    };
  }
}

/**
 * The launcher script shipped as Resources/cli/ngrokd: finds its own directory through the link,
 * then runs the bundled CLI with the helper's Node runtime next to it. Written by build.ts.
 */
export const LAUNCHER_SCRIPT = `#!/bin/sh
# ngrokd command-line tool, shipped inside ngrokd Desktop. /usr/local/bin/ngrokd links here.
set -e
self=$0
while [ -L "$self" ]; do
  target=$(readlink -- "$self")
  case "$target" in
    /*) self=$target ;;
    *) self=$(dirname -- "$self")/$target ;;
  esac
done
here=$(cd -- "$(dirname -- "$self")" && pwd -P)
exec "$here/../helper/bin/node" "$here/${CLI_BUNDLE_NAME}" "$@"
`;
