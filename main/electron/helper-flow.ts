/**
 * Installing, upgrading and removing the privileged helper from the app: one sentence on why admin
 * rights are needed, then HelperInstaller's single OS password prompt, then the engine restarts in
 * helper mode. Declining is a normal answer: the app stays in user mode and status says what is
 * missing. The installer itself (one elevated command, quoting) lives in helper/client/helper-installer.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NgrokdError, toUserFacing, type UserFacingError } from '../common/errors.ts';
import type { EnsureHelperResult, HelperInstallerOptions } from '../../helper/client/helper-installer.ts';
import { copyTreeWithManifest, type HelperStage } from '../../helper/client/helper-stage.ts';

/** Where the helper's files are: an app directory with helper/, main/common/, node_modules/ and bin/node. */
export interface HelperSource {
  sourceRoot: string;
  /** The Node 22 binary installed as the helper's runtime and used to run the installer. */
  node: string;
  /**
   * Set when sourceRoot is a copy the user can write: root then copies it into a root-only directory
   * and checks it against this manifest before running or installing anything from it.
   */
  stage?: HelperStage;
  /** Remove a temporary copy once the installer has copied the files to root-owned paths. */
  dispose(): Promise<void>;
}

export const HELPER_RUNTIME = 'bin/node';
/** Inside the temporary directory: the copied tree and its manifest (outside the tree). */
const COPY_TREE = 'helper';
const COPY_MANIFEST = 'manifest.sha256';

/**
 * The bundled helper, ready for a root process to read. An AppImage's files live on a FUSE mount
 * that root usually cannot read and that vanishes when the app quits, so they are copied out first,
 * into a directory of this user's. That copy is hashed as it is written (the hashes come from the
 * mount, not from re-reading the copy), so the elevated command can refuse a copy swapped while the
 * password prompt is open.
 */
export async function prepareHelperSource(
  bundled: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HelperSource> {
  if (!env.APPIMAGE) {
    return { sourceRoot: bundled, node: join(bundled, HELPER_RUNTIME), dispose: async () => undefined };
  }
  const dir = await mkdtemp(join(env.TMPDIR || tmpdir(), 'ngrokd-helper-'));
  const sourceRoot = join(dir, COPY_TREE);
  let stage: HelperStage;
  try {
    stage = await copyTreeWithManifest(bundled, sourceRoot, join(dir, COPY_MANIFEST));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if (err instanceof NgrokdError) throw err;
    throw new NgrokdError(
      'HELPER_ERROR',
      `cannot copy the helper out of the AppImage (${bundled}): ${err instanceof Error ? err.message : String(err)}`,
      'Make sure the temp directory has free space, or install the helper with `sudo ngrokd helper install`.',
      { cause: err },
    );
  }
  return {
    sourceRoot,
    node: join(sourceRoot, HELPER_RUNTIME),
    stage,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The installer calls the flow makes (HelperInstaller, or a fake in tests). */
export interface HelperInstallerLike {
  ensure(): Promise<EnsureHelperResult>;
  uninstall(): Promise<unknown>;
}

export interface ConfirmRequest {
  message: string;
  detail: string;
  confirm: string;
}

export interface HelperFlowOptions {
  currentVersion: string;
  /** The bundled helper directory (resources/helper when packaged, out/helper in a checkout). */
  bundledSource: string;
  createInstaller(options: HelperInstallerOptions): HelperInstallerLike;
  /** Ask the user; true when they chose `confirm`. */
  confirm(request: ConfirmRequest): Promise<boolean>;
  /** Tell the user something went wrong (the declined prompt is not an error). */
  report(error: UserFacingError): void;
  /** Stop the engine, run `during` (optional), start it again (it picks the helper or user mode). */
  restartEngine(during?: () => Promise<void>): Promise<void>;
  env?: NodeJS.ProcessEnv;
  /** A quiet command run in the uninstall's one prompt before the helper goes (the CLI link's removal). */
  uninstallPrelude?: string;
}

export type HelperReason = 'first-run' | 'missing' | 'upgrade';

/** The one sentence on why, and what user mode lacks. */
export function helperExplanation(
  reason: HelperReason,
  installedVersion: string | null,
  version: string,
): ConfirmRequest {
  const why =
    'ngrokd needs administrator rights once, to install a small helper that gives your endpoints their own network interface, /etc/hosts entries and ports 80/443.';
  if (reason === 'upgrade') {
    return {
      message: `Update the ngrokd helper from ${installedVersion ?? 'an older version'} to ${version}?`,
      detail: `${why} Your password is asked once.`,
      confirm: 'Update Helper…',
    };
  }
  return {
    message: 'Install the ngrokd helper?',
    detail: `${why} Without it ngrokd runs in user mode: loopback addresses, high ports and no /etc/hosts entries.`,
    confirm: 'Install Helper…',
  };
}

function isDeclined(err: unknown): boolean {
  return err instanceof NgrokdError && err.code === 'HELPER_MISSING';
}

export class HelperFlow {
  readonly #options: HelperFlowOptions;
  #busy: Promise<unknown> | null = null;

  constructor(options: HelperFlowOptions) {
    this.#options = options;
  }

  /** Explain, then install or upgrade with one OS prompt. Resolves true when the helper now runs. */
  async install(reason: HelperReason, installedVersion: string | null = null): Promise<boolean> {
    return this.#once(async () => {
      const { currentVersion } = this.#options;
      if (!(await this.#options.confirm(helperExplanation(reason, installedVersion, currentVersion))))
        return false;
      const source = await prepareHelperSource(this.#options.bundledSource, this.#options.env);
      try {
        await this.#installer(source).ensure();
      } catch (err) {
        if (!isDeclined(err)) this.#options.report(toUserFacing(err, 'HELPER_ERROR'));
        return false;
      } finally {
        await source.dispose();
      }
      await this.#options.restartEngine();
      return true;
    }, false);
  }

  /**
   * At start: a helper of another version (the app was updated, the helper not yet) is upgraded
   * through the installer's version handshake, with one explanation and one password prompt.
   * `running` is the version the helper's hello reports (null: none answers).
   */
  async upgradeIfStale(
    running: () => Promise<string | null>,
  ): Promise<'none' | 'current' | 'upgraded' | 'declined'> {
    const version = await running().catch(() => null);
    if (version === null) return 'none';
    if (version === this.#options.currentVersion) return 'current';
    return (await this.install('upgrade', version)) ? 'upgraded' : 'declined';
  }

  /** Confirm, stop using the helper, remove it (one prompt), continue in user mode. */
  async uninstall(): Promise<boolean> {
    return this.#once(async () => {
      const ok = await this.#options.confirm({
        message: 'Uninstall the ngrokd helper?',
        detail:
          'The helper, its network interface, its /etc/hosts section and the ngrokd command-line link are removed (your password is asked once). ngrokd keeps running in user mode.',
        confirm: 'Uninstall Helper…',
      });
      if (!ok) return false;
      const source = await prepareHelperSource(this.#options.bundledSource, this.#options.env);
      let removed = false;
      try {
        await this.#options.restartEngine(async () => {
          try {
            await this.#installer(source).uninstall();
            removed = true;
          } catch (err) {
            if (!isDeclined(err)) this.#options.report(toUserFacing(err, 'HELPER_ERROR'));
          }
        });
      } finally {
        await source.dispose();
      }
      return removed;
    }, false);
  }

  #installer(source: HelperSource): HelperInstallerLike {
    return this.#options.createInstaller({
      currentVersion: this.#options.currentVersion,
      sourceRoot: source.sourceRoot,
      runtime: source.node,
      installerNode: source.node,
      ...(this.#options.uninstallPrelude === undefined
        ? {}
        : { uninstallPrelude: this.#options.uninstallPrelude }),
      // The prompt runs (as the user) from the bundle's own runtime, not from the swappable copy.
      ...(source.stage === undefined
        ? {}
        : { stage: source.stage, promptNode: join(this.#options.bundledSource, HELPER_RUNTIME) }),
    });
  }

  /** One dialog at a time: a second click while one is open does nothing. */
  async #once<T>(run: () => Promise<T>, whenBusy: T): Promise<T> {
    if (this.#busy !== null) return whenBusy;
    const running = run();
    this.#busy = running;
    try {
      return await running;
    } finally {
      this.#busy = null;
    }
  }
}
