/**
 * `ngrokd helper install|uninstall|status` for headless machines. As root (e.g. under sudo) the
 * install runs in this process; otherwise it is elevated once through sudo-prompt, and where there is
 * nobody to ask (no polkit agent) the error says to run the command with sudo.
 */
import type { Command } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { NgrokdError } from '../common/errors.ts';
import {
  DEFAULT_SOURCE_ROOT,
  expectApplied,
  expectStatus,
  runInstaller,
  type AppliedOutcome,
  type InstallerRequest,
} from '../../helper/install/cli.ts';
import type { HelperInstallStatus } from '../../helper/install/status.ts';
import { helperLayout, toHelperPlatform, validateUid } from '../../helper/install/layout.ts';
import { HelperInstaller } from '../../helper/client/helper-installer.ts';

interface HelperOptions {
  root: string;
  uid?: string;
  runtime?: string;
  json?: boolean;
}

/** The user the helper serves: --uid, else the user who ran sudo, else whoever runs this. */
function serviceUid(option: string | undefined): number {
  const text = option ?? process.env.SUDO_UID ?? String(process.getuid?.() ?? 0);
  if (/^[0-9]+$/.test(text)) return validateUid(Number(text));
  throw new NgrokdError(
    'HELPER_ERROR',
    `--uid ${JSON.stringify(text)} is not a numeric user id`,
    'Pass the numeric uid of the user who runs the app (`id -u`).',
  );
}

function checkRoot(root: string): string {
  if (root.startsWith('/')) return root;
  throw new NgrokdError(
    'HELPER_ERROR',
    `--root ${JSON.stringify(root)} is not an absolute path`,
    'Pass an absolute directory, e.g. --root /tmp/helper-root.',
  );
}

async function apply(request: InstallerRequest): Promise<AppliedOutcome> {
  const inProcess = process.geteuid?.() === 0 || request.root !== '/';
  if (!inProcess) {
    const installer = new HelperInstaller({
      currentVersion: pkg.version,
      root: request.root,
      platform: request.platform,
      ...(request.command === 'install' ? { uid: request.uid, runtime: request.runtime } : {}),
    });
    return request.command === 'install' ? installer.install() : installer.uninstall();
  }
  return expectApplied(await runInstaller(request));
}

function describeApplied(outcome: AppliedOutcome, root: string): string {
  const { plan, result } = outcome;
  const layout = helperLayout(plan.platform);
  const where = root === '/' ? '' : ` under ${root}`;
  const lines =
    plan.action === 'uninstall'
      ? [
          plan.from === null
            ? `No helper manifest found${where}; removed any helper files left.`
            : `Helper ${plan.from} uninstalled${where}.`,
        ]
      : [
          `Helper ${plan.to ?? ''} ${plan.action === 'upgrade' ? `installed (upgraded from ${plan.from ?? '?'})` : plan.action === 'reinstall' ? 'reinstalled' : 'installed'}${where}:`,
          `  files:   ${layout.baseDir}`,
          `  service: ${layout.serviceFile}`,
          `  socket:  ${layout.socketPath}`,
        ];
  if (result.skipped.length > 0) {
    lines.push('  not run (root is not /):', ...result.skipped.map((argv) => `    ${argv.join(' ')}`));
  }
  lines.push(...result.warnings.map((w) => `  warning: ${w}`));
  return lines.join('\n');
}

function describeStatus(status: HelperInstallStatus): string {
  if (status.state === 'missing') return 'Helper: not installed.';
  const head =
    status.version === null
      ? 'Helper: damaged install'
      : `Helper ${status.version} for uid ${status.uid ?? '?'} (installed ${status.installedAt ?? '?'}): ${status.state}`;
  return [head, ...status.problems.map((p) => `  ${p}`)].join('\n');
}

function print(json: boolean | undefined, value: unknown, human: string): void {
  process.stdout.write(json === true ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

export function registerHelperCommand(program: Command): void {
  const helper = program
    .command('helper')
    .description('install, uninstall or check the privileged helper (interface, /etc/hosts, ports 80/443)');
  const rootOption = [
    '--root <dir>',
    'operate under this directory instead of / (packaging, tests)',
    '/',
  ] as const;

  helper
    .command('install')
    .description(`install or upgrade the helper to ${pkg.version} (one password prompt when not root)`)
    .option(...rootOption)
    .option('--uid <uid>', 'the user the helper serves (default: the user who ran sudo)')
    .option('--runtime <node>', 'Node 22 binary to install as the helper runtime (default: this one)')
    .option('--json', 'machine-readable output')
    .action(async (opts: HelperOptions) => {
      const root = checkRoot(opts.root);
      const outcome = await apply({
        command: 'install',
        root,
        platform: toHelperPlatform(process.platform),
        version: pkg.version,
        uid: serviceUid(opts.uid),
        sourceRoot: DEFAULT_SOURCE_ROOT,
        runtime: opts.runtime ?? process.execPath,
      });
      print(opts.json, outcome, describeApplied(outcome, root));
    });

  helper
    .command('uninstall')
    .description(
      'stop the helper, remove its interface and hosts section, and delete every file it installed',
    )
    .option(...rootOption)
    .option('--json', 'machine-readable output')
    .action(async (opts: HelperOptions) => {
      const root = checkRoot(opts.root);
      const outcome = await apply({
        command: 'uninstall',
        root,
        platform: toHelperPlatform(process.platform),
      });
      print(opts.json, outcome, describeApplied(outcome, root));
    });

  helper
    .command('status')
    .description('show the installed helper version and whether its files are intact')
    .option(...rootOption)
    .option('--json', 'machine-readable output')
    .action(async (opts: HelperOptions) => {
      const root = checkRoot(opts.root);
      const status = expectStatus(
        await runInstaller({ command: 'status', root, platform: toHelperPlatform(process.platform) }),
      );
      print(opts.json, status, describeStatus(status));
      if (status.state === 'tampered') process.exitCode = 1;
    });
}
