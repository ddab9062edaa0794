/** `--ui` as the CLI runs it: the server on the engine, the printed link, Enter for another, `--open`. */
import type { CommandHandlers } from '../../common/contract.ts';
import type { StateFeed } from '../state-feed.ts';
import type { Launcher } from './open-browser.ts';
import { ensureRendererBuilt } from './renderer-build.ts';
import { startUiServer, type UiServer } from './server.ts';

export interface BrowserUiOptions {
  /** Open a link in the default browser (xdg-open, or open on macOS), through a 0600 redirect file. */
  open?: boolean;
  write?: (line: string) => void;
  /** How `--open` runs the opener (tests capture its argv). */
  launch?: Launcher;
  /** A line on this stream (Enter) prints a new one-time link; default: stdin when it is a terminal. */
  input?: NodeJS.ReadableStream | null;
  /** Serve this build instead of building renderer/dist (tests). */
  staticDir?: string;
}

/** `ngrokd daemon --ui` / `demo --ui`: build the renderer if needed, serve it, print a one-time link. */
export async function startBrowserUi(
  engine: { handlers: CommandHandlers; feed: StateFeed },
  options: BrowserUiOptions = {},
): Promise<UiServer> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const input = options.input === undefined ? (process.stdin.isTTY ? process.stdin : null) : options.input;
  const staticDir = options.staticDir ?? (await ensureRendererBuilt());
  const ui = await startUiServer({ handlers: engine.handlers, feed: engine.feed, staticDir });
  write(`ngrokd UI: ${ui.url}`);
  write(
    input === null
      ? 'ngrokd UI: the link works once, in one tab (a reload needs a new link: restart ngrokd for one).'
      : 'ngrokd UI: the link works once, in one tab; press Enter here to print a new one (e.g. after a reload).',
  );
  if (options.open === true) {
    const opened = ui.openBrowser(options.launch === undefined ? {} : { launch: options.launch });
    opened.launched.catch((err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      write(`ngrokd: could not open a browser (${reason}); open the link above yourself.`);
    });
  }
  if (input === null) return ui;
  const onLine = (): void => write(`ngrokd UI: ${ui.newLink()}`);
  input.on('data', onLine);
  return {
    ...ui,
    close: async () => {
      input.off('data', onLine);
      input.pause();
      await ui.close();
    },
  };
}
