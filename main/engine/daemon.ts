/**
 * The daemon as one unit, shared by the CLI and the desktop shell: choose how privileged operations
 * are done, start the engine and its control socket, and stop both.
 *  - root: the root operations in-process (interface, addresses, /etc/hosts, ports);
 *  - a normal user with the helper installed: the helper over its authenticated socket;
 *  - otherwise (or --user-mode): user mode, and status says what is missing.
 */
import { RootOps } from '../system/root-ops.ts';
import { DEFAULT_HOSTS_PATH } from '../common/defaults.ts';
import { NgrokdError, toUserFacing, type UserFacingError } from '../common/errors.ts';
import type { PrivilegedOps } from '../common/privileged.ts';
import type { ResolvedConfig } from './config.ts';
import { HelperClientOps } from '../../helper/client/helper-client.ts';
import { createLogger, type Logger } from './log.ts';
import { UserModeOps } from './user-mode.ts';
import { VERSION } from './version.ts';
import { Engine } from './engine.ts';
import { startControlServer } from './control-socket.ts';
import { startRootWatchdog } from './root-watchdog.ts';

export interface ChosenOps {
  ops: PrivilegedOps;
  /** Why the daemon is not running with full privileges, when it could be. */
  problem: UserFacingError | null;
}

function userMode(config: ResolvedConfig): UserModeOps {
  return new UserModeOps({
    subnet: config.net.user_subnet,
    interfaceName: config.net.interface_name,
    stateDir: config.stateDir,
    ...(config.hostsPath === undefined ? {} : { hostsPath: config.hostsPath }),
  });
}

export async function createPrivilegedOps(
  config: ResolvedConfig,
  options: { userMode: boolean; logger: Logger; isRoot?: boolean; helperSocket?: string },
): Promise<ChosenOps> {
  if (options.userMode) return { ops: userMode(config), problem: null };
  if (options.isRoot ?? process.getuid?.() === 0) {
    return {
      ops: new RootOps({
        hostsPath: config.hostsPath ?? DEFAULT_HOSTS_PATH,
        stateDir: config.stateDir,
        ownerSocket: config.socketPath,
      }),
      problem: null,
    };
  }
  const helper = new HelperClientOps({
    appVersion: VERSION,
    logger: options.logger,
    ...(options.helperSocket === undefined ? {} : { socketPath: options.helperSocket }),
  });
  try {
    await helper.connect();
    return { ops: helper, problem: null };
  } catch (err) {
    await helper.close();
    const problem = toUserFacing(err, 'HELPER_MISSING');
    const why = err instanceof NgrokdError ? err.message : problem.message;
    options.logger.warn({ err: problem }, 'privileged helper unavailable; running in user mode');
    return {
      ops: userMode(config),
      problem: {
        ...problem,
        message: `${why}; running in user mode (loopback addresses, high ports, hosts file only if NGROKD_HOSTS_PATH is set)`,
      },
    };
  }
}

export interface RunningDaemon {
  engine: Engine;
  stop(): Promise<void>;
}

export async function startDaemon(
  config: ResolvedConfig,
  options: { userMode: boolean; logger?: Logger },
): Promise<RunningDaemon> {
  const logger = options.logger ?? createLogger(config.server.log_level);
  const helperSocket = process.env.NGROKD_HELPER_SOCKET || undefined;
  const { ops, problem } = await createPrivilegedOps(config, {
    userMode: options.userMode,
    logger,
    ...(helperSocket === undefined ? {} : { helperSocket }),
  });
  const engine = new Engine({ config, ops, logger, privilegeProblem: problem });
  // Root mode has no helper to clean up after a crash: a watchdog does.
  const watchdog =
    ops.mode === 'root'
      ? startRootWatchdog({
          interfaceName: config.net.interface_name,
          hostsPath: ops.hostsPath ?? DEFAULT_HOSTS_PATH,
          stateDir: config.stateDir,
        })
      : null;
  let control;
  try {
    control = await startControlServer(config.socketPath, engine.handlers, engine);
  } catch (err) {
    await ops.teardown().catch(() => undefined);
    watchdog?.release();
    throw err;
  }
  try {
    await engine.start();
  } catch (err) {
    // Whatever the start made (interface, addresses, a section) goes again; what cannot is named.
    await control.close();
    await engine.stop().catch((cleanup: unknown) => {
      logger.error(
        { err: toUserFacing(cleanup, 'CLEANUP_INCOMPLETE') },
        'start failed and cleanup was incomplete',
      );
      throw new NgrokdError(
        'CLEANUP_INCOMPLETE',
        `${err instanceof Error ? err.message : String(err)}; and ${cleanup instanceof Error ? cleanup.message : String(cleanup)}`,
        cleanup instanceof NgrokdError ? cleanup.fix : 'Run `sudo npm run ngrokd -- cleanup`.',
        { cause: err },
      );
    });
    watchdog?.release();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    engine,
    stop: () => {
      stopping ??= (async () => {
        await control.close();
        await engine.stop();
        watchdog?.release();
      })();
      return stopping;
    },
  };
}
