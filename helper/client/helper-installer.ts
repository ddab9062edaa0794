/**
 * The unprivileged side of installing the helper: decide whether it is needed, then run the whole
 * install as ONE elevated command, so the user sees one password prompt. sudo-prompt accepts a single
 * shell command string; every argument is single-quoted by shellQuote() and nothing else is ever
 * interpolated. A declined prompt is final for this session (no prompt loops): the app keeps running
 * in user mode until the user asks again.
 *
 * The prompt itself runs in a child process started from '/' (sudo-prompt-child.ts): sudo-prompt
 * writes the working directory into its shell command. When the helper's files are in a directory
 * the user can write (`stage`), the elevated command copies them into a root-only directory and
 * verifies them before running anything (helper-stage.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NgrokdError } from '../../main/common/errors.ts';
import {
  DEFAULT_SOURCE_ROOT,
  expectApplied,
  INSTALLER_SCRIPT,
  installerArgs,
  type AppliedOutcome,
  type InstallerOutcome,
  type InstallerRequest,
} from '../install/cli.ts';
import { helperStatus } from '../install/status.ts';
import { helperLayout, RUNTIME_FILE, toHelperPlatform, type HelperPlatform } from '../install/layout.ts';
import { HelperClientOps } from './helper-client.ts';
import {
  shellCommand,
  STAGE_PARENT,
  stagedCommand,
  stageFailure,
  type HelperStage,
  type StagedArg,
} from './helper-stage.ts';

export { shellCommand, shellQuote, type HelperStage } from './helper-stage.ts';

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
/** The name sudo-prompt shows (it allows only letters, digits and spaces). */
const PROMPT_NAME = 'ngrokd Desktop';

/**
 * The prompt child script: next to this module in a checkout (TypeScript), or next to the bundled
 * main.js when packaged (out/main/sudo-prompt-child.mjs, unpacked from app.asar so that a plain Node
 * binary can read it).
 */
export function sudoPromptChildScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const source = join(here, 'sudo-prompt-child.ts');
  const path = existsSync(source) ? source : join(here, 'sudo-prompt-child.mjs');
  return path.replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2');
}

export interface SudoPromptOptions {
  /**
   * A Node 22 binary to run the prompt child. Default: this process's, unless this is Electron
   * (its binary cannot run scripts: the runAsNode fuse is off); the app passes the bundled bin/node.
   */
  node?: string;
  /** Default: sudoPromptChildScript(). */
  script?: string;
  platform?: HelperPlatform;
}

interface ChildReply {
  stdout?: unknown;
  error?: { message?: unknown } | null;
  refused?: unknown;
}

function promptError(message: string, cause?: unknown): NgrokdError {
  return new NgrokdError(
    'HELPER_ERROR',
    message,
    'Reinstall the app, or install the helper from a terminal with `sudo ngrokd helper install`.',
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Elevation through sudo-prompt, run in a child process started with cwd '/' whatever this
 * process's working directory is; the command goes to it on stdin. Resolves with the command's
 * stdout (a failing installer still prints its outcome); rejects with sudo-prompt's error when the
 * prompt was declined or unavailable, or with a HELPER_ERROR when the child cannot do its job.
 */
export function sudoPromptElevator(options: SudoPromptOptions = {}): Elevate {
  return (command) =>
    new Promise((resolve, reject) => {
      const node = options.node ?? (process.versions.electron === undefined ? process.execPath : undefined);
      if (node === undefined) {
        reject(promptError('no Node binary to run the password prompt with (this is Electron)'));
        return;
      }
      const script = options.script ?? sudoPromptChildScript();
      if (!existsSync(script)) {
        reject(promptError(`the password prompt script ${JSON.stringify(script)} is missing`));
        return;
      }
      const platform = options.platform ?? toHelperPlatform(process.platform);
      let request: string;
      try {
        request = JSON.stringify({ command: sudoPromptCommand(command, platform), name: PROMPT_NAME });
      } catch (err) {
        reject(err);
        return;
      }
      const child = spawn(node, [script], {
        cwd: '/',
        env: { ...process.env, PWD: '/' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.stdin.on('error', () => undefined);
      child.on('error', (cause) =>
        reject(promptError(`cannot start the password prompt (${node} ${script}): ${cause.message}`, cause)),
      );
      child.on('close', (code) => {
        const text = Buffer.concat(out).toString('utf8').trim();
        let reply: ChildReply | null = null;
        try {
          const value = JSON.parse(text.split('\n').at(-1) ?? '') as unknown;
          if (typeof value === 'object' && value !== null) reply = value as ChildReply;
        } catch {
          reply = null;
        }
        if (reply === null || typeof reply.refused === 'string') {
          const why =
            reply !== null
              ? String(reply.refused)
              : `it exited with ${String(code)} and said ${JSON.stringify(Buffer.concat(err).toString('utf8').trim().slice(0, 300))}`;
          reject(promptError(`the password prompt (${script}) failed: ${why}`));
          return;
        }
        const stdout = typeof reply.stdout === 'string' ? reply.stdout : '';
        const failure = reply.error;
        // A failing installer still prints its JSON outcome; let the caller read it.
        if (failure !== undefined && failure !== null && stdout.trim() === '') {
          reject(new Error(typeof failure.message === 'string' ? failure.message : String(failure.message)));
        } else {
          resolve(stdout);
        }
      });
      child.stdin.end(request);
    });
}

/** sudo-prompt from a child process in '/', with this process's Node binary. */
export const sudoPromptElevate: Elevate = (command) => sudoPromptElevator()(command);

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
  /**
   * `sourceRoot` is a directory the user can write (the copy out of an AppImage): the elevated
   * command copies it into a root-only directory, verifies it against this manifest and runs the
   * installer, with the staged bin/node as runtime, only from there. runtime and installerNode, when
   * given, must be sourceRoot's bin/node.
   */
  stage?: HelperStage;
  /** Root-only directory the staging directory is created in. Default: STAGE_PARENT[platform]. */
  stageParent?: string;
  /**
   * Node binary that runs the password prompt's child process, as the user. Default: installerNode.
   * With a stage, pass one the user cannot swap either (the bundle's own, not the copy's).
   */
  promptNode?: string;
  /** Default: sudoPromptElevator() with promptNode. */
  elevate?: Elevate;
  /**
   * A quiet shell command run first in the uninstall's one prompt, whatever it does (the desktop
   * app removes its /usr/local/bin/ngrokd link with it). It must print nothing: the installer's
   * last line is its outcome.
   */
  uninstallPrelude?: string;
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
    if (options.stage !== undefined) {
      const staged = join(options.sourceRoot ?? DEFAULT_SOURCE_ROOT, RUNTIME_FILE);
      for (const [name, value] of [
        ['runtime', options.runtime],
        ['installerNode', options.installerNode],
      ] as const) {
        if (value !== undefined && value !== staged) {
          throw new NgrokdError(
            'HELPER_ERROR',
            `${name} ${JSON.stringify(value)} is not the staged ${JSON.stringify(staged)}: a staged install runs only the verified copy`,
            "This is a bug: pass the source directory's bin/node (or nothing) with a stage.",
          );
        }
      }
    }
  }

  /** The one elevated command line for `request`. */
  command(request: InstallerRequest): string {
    const sourceRoot = this.#options.sourceRoot ?? DEFAULT_SOURCE_ROOT;
    const { stage } = this.#options;
    if (stage === undefined) {
      const node = this.#options.installerNode ?? process.execPath;
      return shellCommand([node, join(sourceRoot, INSTALLER_SCRIPT), ...installerArgs(request)]);
    }
    // Paths into the staged copy, which only exists once root has made it: sentinels stand for them
    // in installerArgs (they contain NUL, so no real argument can equal them).
    const SOURCE = '\0staged-source\0';
    const RUNTIME = '\0staged-runtime\0';
    const args = installerArgs(
      request.command === 'install' ? { ...request, sourceRoot: SOURCE, runtime: RUNTIME } : request,
    );
    const argv: StagedArg[] = [
      { staged: RUNTIME_FILE },
      { staged: INSTALLER_SCRIPT },
      ...args.map((arg): StagedArg =>
        arg === SOURCE ? { staged: '' } : arg === RUNTIME ? { staged: RUNTIME_FILE } : arg,
      ),
    ];
    return stagedCommand({
      platform: this.#platform,
      sourceRoot,
      stage,
      parent: this.#stageParent(),
      argv,
    });
  }

  #stageParent(): string {
    return this.#options.stageParent ?? STAGE_PARENT[this.#platform];
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

  /** The one elevated command line for an uninstall, with the prelude when there is one. */
  uninstallCommand(): string {
    const command = this.command({ command: 'uninstall', root: this.#root, platform: this.#platform });
    const { uninstallPrelude } = this.#options;
    return uninstallPrelude === undefined ? command : `${uninstallPrelude}; ${command}`;
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
    const promptNode = this.#options.promptNode ?? this.#options.installerNode;
    const elevate =
      this.#options.elevate ??
      // sudo-prompt's quoting follows the OS it runs on, whatever platform the install targets.
      sudoPromptElevator(promptNode === undefined ? {} : { node: promptNode });
    const command = request.command === 'uninstall' ? this.uninstallCommand() : this.command(request);
    let stdout: string;
    try {
      stdout = await elevate(command);
    } catch (err) {
      // The prompt could not even be shown (a broken app, not an answer): say so, ask again next time.
      if (err instanceof NgrokdError && err.code === 'HELPER_ERROR') throw err;
      this.#declined = declined(err);
      throw this.#declined;
    }
    const outcome = parseOutcome(stdout);
    const { stage } = this.#options;
    if (outcome === null && stage !== undefined) {
      const refused = stageFailure(stdout, {
        sourceRoot: this.#options.sourceRoot ?? DEFAULT_SOURCE_ROOT,
        manifest: stage.manifest,
        parent: this.#stageParent(),
      });
      if (refused !== null) throw refused;
    }
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
