/** The foreground daemon of `ngrokd daemon`/`demo`: start it, serve --ui, shut down cleanly on SIGTERM/SIGINT. */
import type { ResolvedConfig } from '../engine/config.ts';
import { startDaemon, type RunningDaemon } from '../engine/daemon.ts';
import { startBrowserUi, type BrowserUiOptions } from '../engine/ui-server/browser-ui.ts';
import type { UiServer } from '../engine/ui-server/server.ts';

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
