/**
 * The installer's entry point: what the single elevated command runs (via sudo-prompt or sudo), and
 * what `ngrokd helper` calls in-process when already root. Output is one JSON line on stdout so the
 * unprivileged caller can report the outcome; the exit status is 0 only on success.
 *
 *   node helper/install/cli.ts install --uid 1000 --version 0.1.0 [--source DIR] [--runtime NODE] [--root DIR]
 *   node helper/install/cli.ts uninstall [--root DIR]
 *   node helper/install/cli.ts status [--root DIR]
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NgrokdError, toUserFacing, type UserFacingError } from '../../main/common/errors.ts';
import type { CommandArgv } from '../../main/system/run-command.ts';
import { applyPlan, type ApplyResult } from './apply.ts';
import { toHelperPlatform, validateUid, validateVersion, type HelperPlatform } from './layout.ts';
import { planInstall, planUninstall, type InstallPlan } from './plan.ts';
import { checkoutSource } from './source.ts';
import { helperStatus, type HelperInstallStatus } from './status.ts';

/** The app directory this file belongs to (a checkout, or an unpacked app with the same shape). */
export const DEFAULT_SOURCE_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** This script, relative to an app directory. */
export const INSTALLER_SCRIPT = 'helper/install/cli.ts';

export type InstallerRequest =
  | {
      command: 'install';
      root: string;
      platform: HelperPlatform;
      version: string;
      uid: number;
      /** App directory holding helper/, main/common/ and node_modules/. */
      sourceRoot: string;
      /** Node binary to install as the helper's runtime. */
      runtime: string;
    }
  | { command: 'uninstall' | 'status'; root: string; platform: HelperPlatform };

export type InstallerOutcome =
  | {
      ok: true;
      command: 'install' | 'uninstall';
      plan: Omit<InstallPlan, 'steps' | 'rollback'>;
      result: ApplyResult;
    }
  | { ok: true; command: 'status'; status: HelperInstallStatus }
  | { ok: false; error: UserFacingError };

function usage(message: string): NgrokdError {
  return new NgrokdError(
    'HELPER_ERROR',
    `helper installer: ${message}`,
    'Usage: cli.ts install --uid UID --version VERSION [--source DIR] [--runtime NODE] [--root DIR] | uninstall [--root DIR] | status [--root DIR]',
  );
}

/** The installer's arguments for `request` (the inverse of parseInstallerArgs). */
export function installerArgs(request: InstallerRequest): string[] {
  const common = ['--root', request.root, '--platform', request.platform];
  if (request.command !== 'install') return [request.command, ...common];
  return [
    'install',
    ...common,
    '--uid',
    String(request.uid),
    '--version',
    request.version,
    '--source',
    request.sourceRoot,
    '--runtime',
    request.runtime,
  ];
}

export function parseInstallerArgs(args: readonly string[]): InstallerRequest {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        root: { type: 'string', default: '/' },
        platform: { type: 'string', default: process.platform },
        uid: { type: 'string' },
        version: { type: 'string' },
        source: { type: 'string', default: DEFAULT_SOURCE_ROOT },
        runtime: { type: 'string', default: process.execPath },
      },
    });
  } catch (err) {
    throw usage(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw usage(`unexpected argument ${JSON.stringify(extra[0])}`);
  const root = values.root;
  if (!root.startsWith('/')) throw usage(`--root ${JSON.stringify(root)} is not an absolute path`);
  const platform = toHelperPlatform(values.platform);
  if (command === 'uninstall' || command === 'status') return { command, root, platform };
  if (command !== 'install') throw usage(`unknown command ${JSON.stringify(command ?? '')}`);
  if (values.uid === undefined || !/^[0-9]+$/.test(values.uid))
    throw usage('install needs --uid with a numeric uid');
  if (values.version === undefined) throw usage('install needs --version');
  return {
    command,
    root,
    platform,
    uid: validateUid(Number(values.uid)),
    version: validateVersion(values.version),
    sourceRoot: values.source,
    runtime: values.runtime,
  };
}

export type AppliedOutcome = Extract<InstallerOutcome, { command: 'install' | 'uninstall' }>;

function outcomeError(outcome: InstallerOutcome): NgrokdError {
  if (!outcome.ok) return new NgrokdError(outcome.error.code, outcome.error.message, outcome.error.fix);
  return new NgrokdError(
    'HELPER_ERROR',
    `unexpected ${outcome.command} outcome from the installer`,
    'This is a bug.',
  );
}

/** The result of an install or uninstall, or its failure thrown as the NgrokdError it reported. */
export function expectApplied(outcome: InstallerOutcome): AppliedOutcome {
  if (outcome.ok && outcome.command !== 'status') return outcome;
  throw outcomeError(outcome);
}

export function expectStatus(outcome: InstallerOutcome): HelperInstallStatus {
  if (outcome.ok && outcome.command === 'status') return outcome.status;
  throw outcomeError(outcome);
}

function summary(plan: InstallPlan): Omit<InstallPlan, 'steps' | 'rollback'> {
  return {
    action: plan.action,
    platform: plan.platform,
    from: plan.from,
    to: plan.to,
    commitStep: plan.commitStep,
  };
}

export interface RunInstallerOptions {
  /** Service commands run only for root '/', unless a runner is given (tests). */
  run?: (argv: CommandArgv) => Promise<{ stdout: string; stderr: string }>;
}

/** Do what `request` asks, in this process. Never throws: failures are an `ok: false` outcome. */
export async function runInstaller(
  request: InstallerRequest,
  options: RunInstallerOptions = {},
): Promise<InstallerOutcome> {
  try {
    const { root, platform } = request;
    if (request.command === 'status') {
      return { ok: true, command: 'status', status: await helperStatus({ root, platform }) };
    }
    const plan =
      request.command === 'install'
        ? await planInstall({
            root,
            platform,
            version: request.version,
            uid: request.uid,
            source: await checkoutSource({ root: request.sourceRoot, runtime: request.runtime }),
          })
        : await planUninstall({ root, platform });
    const result = await applyPlan(plan, {
      root,
      ...(options.run === undefined ? {} : { run: options.run, runCommands: true }),
    });
    return { ok: true, command: request.command, plan: summary(plan), result };
  } catch (err) {
    return { ok: false, error: toUserFacing(err, 'HELPER_ERROR') };
  }
}

if (import.meta.main) {
  let outcome: InstallerOutcome;
  try {
    outcome = await runInstaller(parseInstallerArgs(process.argv.slice(2)));
  } catch (err) {
    outcome = { ok: false, error: toUserFacing(err, 'HELPER_ERROR') };
  }
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
  process.exitCode = outcome.ok ? 0 : 1;
}
