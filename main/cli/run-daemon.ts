/** The foreground daemon of `ngrokd daemon`/`demo`: start it, serve --ui, shut down cleanly on SIGTERM/SIGINT. */
import { toUserFacing } from '../common/errors.ts';
import type { ResolvedConfig } from '../engine/config.ts';
import { startDaemon, type RunningDaemon } from '../engine/daemon.ts';
import { startBrowserUi, type BrowserUiOptions } from '../engine/ui-server/browser-ui.ts';
import type { UiServer } from '../engine/ui-server/server.ts';

/**
 * Foreground daemon. SIGTERM/SIGINT are handled from the first moment, start-up included: a signal
 * during start-up lets the start finish (or fail) and then undoes all of it. The process exits 0 only
 * when everything ngrokd made is gone; otherwise 1, naming what is left and how to remove it.
 */
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
  let signalled: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (signalled = resolve));
  const onSignal = (): void => signalled();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let stopping = false;
  void stopRequested.then(() => {
    stopping = true;
    process.stderr.write('ngrokd: stopping\n');
  });

  const daemon = await startDaemon(config, options);
  let ui: UiServer | undefined;
  if (!stopping) {
    const status = daemon.engine.snapshot().status;
    const m = daemon.engine.metricsAddress;
    const metrics =
      m === null
        ? ''
        : `; metrics on http://${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}/metrics`;
    process.stderr.write(
      `ngrokd: running in ${status.mode} mode; control socket ${config.socketPath}${metrics}; Ctrl-C or SIGTERM stops it\n`,
    );
    try {
      await options.onReady?.(daemon);
      if (options.ui !== undefined) ui = await startBrowserUi(daemon.engine, options.ui);
    } catch (err) {
      await daemon.stop().catch(() => undefined);
      await options.onStop?.();
      throw err;
    }
  }
  await stopRequested;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  let leftover: unknown = null;
  await Promise.resolve(ui?.close())
    .then(() => daemon.stop())
    .catch((err: unknown) => (leftover = err));
  await options.onStop?.();
  if (leftover !== null) {
    const { message, fix } = toUserFacing(leftover, 'CLEANUP_INCOMPLETE');
    process.stderr.write(`ngrokd: stopped, but not cleanly: ${message}\n  fix: ${fix}\n`);
    process.exit(1);
  }
  process.stderr.write('ngrokd: stopped cleanly\n');
  process.exit(0);
}
