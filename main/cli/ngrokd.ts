/**
 * `ngrokd` — the headless daemon and its CLI (`npm run ngrokd -- <command>`).
 *   daemon   run in the foreground; SIGTERM/SIGINT shut down cleanly
 *   status   show the running daemon's state (--json for scripts)
 *   list     show the endpoints (--json for scripts)
 *   logout   delete the ngrok registration and local credentials
 *   cleanup  remove what a crashed daemon left behind (interface, hosts section, socket)
 *   demo     run against the built-in simulator: no account, no root, no network
 *   helper   install | uninstall | status of the privileged helper
 *   requests the request inspector: recent requests, --follow, --har FILE (requests-command.ts)
 *   replay   send a captured request again
 *   disable | enable | pin | unpin HOST   per-endpoint switches, kept across restarts
 *   doctor   ordered checks of the setup with fixes (exit 1 on a failure)
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { DoctorReport } from '../common/contract.ts';
import { NgrokdError, type UserFacingError } from '../common/errors.ts';
import { formatDoctor, hasFailure } from '../common/doctor-report.ts';
import { configCheck, offlineReport } from '../engine/doctor.ts';
import { loadConfigFile, resolveConfig, validateConfig, type ResolvedConfig } from '../engine/config.ts';
import { callDaemon } from './control-client.ts';
import { formatEndpoints, formatError, formatStatus } from './format.ts';
import { runDaemon } from './run-daemon.ts';
import { runDemo } from './demo.ts';
import { logoutOffline } from './logout.ts';
import { cleanup } from './cleanup.ts';
import { registerHelperCommand } from './helper-command.ts';
import { registerRequestsCommands } from './requests-command.ts';

/** Resolving 500 names and a TLS handshake can take a while on a slow network. */
const DOCTOR_TIMEOUT_MS = 60_000;

interface CommonOptions {
  config?: string;
  socket?: string;
  json?: boolean;
  userMode?: boolean;
  ui?: boolean;
  open?: boolean;
}

const uiOption = new Option(
  '--ui',
  'serve the UI in a browser on 127.0.0.1 (prints a one-time link; Enter prints another)',
);
const openOption = new Option(
  '--open',
  'with --ui: open a link in the default browser (via a private file, never on a command line)',
);

function uiOptions(opts: CommonOptions): { ui?: { open: boolean } } {
  return opts.ui === true ? { ui: { open: opts.open === true } } : {};
}

function defaultConfigPath(): string | undefined {
  const candidates = [
    process.env.NGROKD_CONFIG,
    join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'ngrokd', 'config.yml'),
    '/etc/ngrokd/config.yml',
  ];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

function loadResolved(opts: CommonOptions): ResolvedConfig {
  const path = opts.config ?? defaultConfigPath();
  const config = path === undefined ? validateConfig({}, 'defaults') : loadConfigFile(path);
  const resolved = resolveConfig(config);
  return opts.socket === undefined ? resolved : { ...resolved, socketPath: opts.socket };
}

function print(json: boolean | undefined, value: unknown, human: string): void {
  process.stdout.write(json === true ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

const program = new Command('ngrokd')
  .description('Reach ngrok Kubernetes bound endpoints from this machine.')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const configOption = new Option('-c, --config <file>', 'YAML config file (upstream ngrokd keys accepted)');
const socketOption = new Option('-s, --socket <path>', 'control socket of the running daemon');

program
  .command('daemon')
  .description('run the daemon in the foreground')
  .addOption(configOption)
  .option('--user-mode', 'never use root privileges (loopback addresses, high ports)')
  .addOption(uiOption)
  .addOption(openOption)
  .action(async (opts: CommonOptions) => {
    await runDaemon(loadResolved(opts), { userMode: opts.userMode === true, ...uiOptions(opts) });
  });

program
  .command('status')
  .description("show the daemon's state")
  .addOption(configOption)
  .addOption(socketOption)
  .option('--json', 'machine-readable output')
  .action(async (opts: CommonOptions) => {
    const status = await callDaemon(loadResolved(opts).socketPath, 'status', {});
    print(opts.json, status, formatStatus(status));
  });

program
  .command('list')
  .description('list the bound endpoints with their local addresses and traffic')
  .addOption(configOption)
  .addOption(socketOption)
  .option('--json', 'machine-readable output')
  .action(async (opts: CommonOptions) => {
    const endpoints = await callDaemon(loadResolved(opts).socketPath, 'list', {});
    print(opts.json, endpoints, formatEndpoints(endpoints));
  });

/** Per-endpoint switches: one command each, the same call underneath. */
const ENDPOINT_SWITCHES = [
  ['disable', 'turn one endpoint off: no listener, no hosts line (its IP is kept)', { enabled: false }],
  ['enable', 'turn an endpoint turned off with `disable` on again', { enabled: true }],
  ['pin', 'keep an endpoint at the top of the window and the tray menu', { pinned: true }],
  ['unpin', 'undo `pin`', { pinned: false }],
] as const;

for (const [name, description, change] of ENDPOINT_SWITCHES) {
  program
    .command(name)
    .description(description)
    .argument('<host>', 'hostname (or endpoint URL) as `list` shows it')
    .addOption(configOption)
    .addOption(socketOption)
    .option('--json', 'machine-readable output (the endpoints, as `list --json`)')
    .action(async (host: string, opts: CommonOptions) => {
      const endpoints = await callDaemon(loadResolved(opts).socketPath, 'setEndpoint', { host, ...change });
      print(opts.json, endpoints, formatEndpoints(endpoints));
    });
}

program
  .command('logout')
  .description('delete the ngrok registration (operator) and the local credentials')
  .addOption(configOption)
  .addOption(socketOption)
  .action(async (opts: CommonOptions) => {
    const config = loadResolved(opts);
    let deleted: boolean;
    try {
      deleted = (await callDaemon(config.socketPath, 'logout', {})).deleted;
    } catch (err) {
      if (!(err instanceof NgrokdError) || err.code !== 'NOT_RUNNING') throw err;
      deleted = await logoutOffline(config);
    }
    process.stdout.write(deleted ? 'Logged out: registration deleted.\n' : 'Nothing to log out of.\n');
  });

program
  .command('cleanup')
  .description(
    'remove the interface, hosts section and socket a crashed daemon left behind (root: everything)',
  )
  .addOption(configOption)
  .addOption(socketOption)
  .action(async (opts: CommonOptions) => {
    const removed = await cleanup(loadResolved(opts));
    process.stdout.write(
      removed.length === 0
        ? 'Nothing to clean up.\n'
        : `Removed:\n${removed.map((r) => `  ${r}`).join('\n')}\n`,
    );
  });

program
  .command('demo')
  .description('run the daemon against the built-in ngrok simulator (no account, no root)')
  .option('-s, --socket <path>', 'control socket path for the demo daemon')
  .addOption(uiOption)
  .addOption(openOption)
  .action(async (opts: CommonOptions) => {
    await runDemo({ socketPath: opts.socket, ...uiOptions(opts) });
  });

program
  .command('doctor')
  .description("check this machine's setup step by step, each with its fix (exit 1 when one fails)")
  .addOption(configOption)
  .addOption(socketOption)
  .option('--json', 'machine-readable output: {"checks":[{"id","status","message","fix"}]}')
  .action(async (opts: CommonOptions) => {
    let report: DoctorReport;
    let config: ResolvedConfig | null = null;
    let problem: UserFacingError | null = null;
    try {
      config = loadResolved(opts);
      if (config.apiKey === undefined)
        problem = new NgrokdError(
          'API_KEY_MISSING',
          'no ngrok API key: api.key is not set in the config and NGROK_API_KEY is empty',
          'Create an API key at https://dashboard.ngrok.com/api-keys and set NGROK_API_KEY (or api.key).',
        ).toJSON();
    } catch (err) {
      if (!(err instanceof NgrokdError)) throw err;
      problem = err.toJSON();
    }
    const source = opts.config ?? defaultConfigPath() ?? 'defaults';
    try {
      if (config === null)
        throw new NgrokdError(
          'NOT_RUNNING',
          'the daemon was not asked: the config does not load',
          'Fix the config check first.',
        );
      report = await callDaemon(config.socketPath, 'doctor', {}, DOCTOR_TIMEOUT_MS);
    } catch (err) {
      if (!(err instanceof NgrokdError) || err.code !== 'NOT_RUNNING') throw err;
      report = offlineReport(configCheck(problem, source), err.toJSON());
    }
    print(opts.json, report, formatDoctor(report));
    if (hasFailure(report)) process.exitCode = 1;
  });

registerHelperCommand(program);
registerRequestsCommands(program, {
  configOption,
  socketOption,
  socketPath: (opts) => loadResolved(opts).socketPath,
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof NgrokdError) {
    process.stderr.write(`ngrokd: ${formatError(err.toJSON())}\n`);
    process.exit(err.code === 'CONFIG_INVALID' ? 2 : 1);
  }
  throw err;
}
