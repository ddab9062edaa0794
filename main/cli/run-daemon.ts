/** Start the engine and its control socket, and shut both down cleanly on SIGTERM/SIGINT. */
import { Engine } from '../engine/engine.ts';
import { startControlServer } from '../engine/control-socket.ts';
import { createLogger, type Logger } from '../engine/log.ts';
import type { ResolvedConfig } from '../engine/config.ts';
import { createPrivilegedOps } from '../engine/privileged-ops.ts';
import { startBrowserUi, type BrowserUiOptions, type UiServer } from '../engine/ui-server.ts';

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
  const control = await startControlServer(config.socketPath, engine.handlers, engine);
  try {
    await engine.start();
  } catch (err) {
    await control.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    engine,
    stop: () => {
      stopping ??= (async () => {
        await control.close();
        await engine.stop();
      })();
      return stopping;
    },
  };
}

/** Foreground daemon: resolves only after a clean shutdown. */
export async function runDaemon(
  config: ResolvedConfig,
  options: {
    userMode: boolean;
    onReady?: (d: RunningDaemon) => Promise<void> | void;
    onStop?: () => Promise<void>;
    /** `--ui`: serve the browser UI once the daemon is ready. */
    ui?: BrowserUiOptions;
  },
): Promise<void> {
  const daemon = await startDaemon(config, options);
  const status = daemon.engine.snapshot().status;
  process.stderr.write(
    `ngrokd: running in ${status.mode} mode; control socket ${config.socketPath}; Ctrl-C or SIGTERM stops it\n`,
  );
  await options.onReady?.(daemon);
  let ui: UiServer | undefined;
  try {
    if (options.ui !== undefined) ui = await startBrowserUi(daemon.engine, options.ui);
  } catch (err) {
    await daemon.stop();
    await options.onStop?.();
    throw err;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (): void => {
      process.off('SIGTERM', shutdown);
      process.off('SIGINT', shutdown);
      void Promise.resolve(ui?.close())
        .then(() => daemon.stop())
        .then(() => options.onStop?.())
        .finally(resolve);
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
  });
  process.stderr.write('ngrokd: stopped cleanly\n');
  process.exit(0);
}
