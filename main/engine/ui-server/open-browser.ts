/**
 * `--open`: a one-time link opened in the default browser without putting it on any command line
 * (/proc/PID/cmdline is readable by every user). The opener gets the path of a 0600 file, in a 0700
 * directory, whose only content is a redirect to the link; the file goes once its link is used, or
 * after a short TTL.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long an unused `--open` redirect file (and its link) lives: long enough for a cold browser start. */
export const OPEN_FILE_TTL_MS = 120_000;

/** Runs the platform's opener (`xdg-open FILE`, `open FILE`); resolves when it exits successfully. */
export type Launcher = (command: string, args: readonly string[]) => Promise<void>;

export const defaultLauncher: Launcher = (command, args) =>
  new Promise((done, reject) => {
    // execFile, not a shell: the path is one argument whatever it contains.
    execFile(command, [...args], (err) => (err ? reject(err) : done()));
  });

export interface OpenedBrowser {
  /** The 0600 redirect file the browser was given; removed once its link is used, or after the TTL. */
  file: string;
  command: string;
  args: string[];
  /** Settles when the opener exits (rejects when it failed; the file is then removed at once). */
  launched: Promise<void>;
}

export interface OpenBrowserOptions {
  launch?: Launcher;
  ttlMs?: number;
}

/** What `--open` gives the browser: a redirect, no script (the URL is only base64url characters anyway). */
function redirectPage(url: string): string {
  const attr = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return [
    '<!doctype html>',
    '<meta charset="utf-8">',
    '<meta name="referrer" content="no-referrer">',
    `<meta http-equiv="refresh" content="0;url=${attr}">`,
    '<title>ngrokd</title>',
    `<p><a href="${attr}">Open the ngrokd UI</a></p>`,
    '',
  ].join('\n');
}

/** Redirect files handed to openers, removed when used, expired, or on close. */
export class BrowserOpener {
  readonly #mintLink: (onUsed: () => void) => { url: string; revoke(): void };
  readonly #files = new Set<() => void>();

  /** `mintLink` makes a one-time link whose `onUsed` runs when it is traded for a session. */
  constructor(mintLink: (onUsed: () => void) => { url: string; revoke(): void }) {
    this.#mintLink = mintLink;
  }

  open(opts: OpenBrowserOptions = {}): OpenedBrowser {
    // mkdtemp makes the directory 0700; the file is 0600 and created exclusively (no symlink games).
    const dir = mkdtempSync(join(tmpdir(), 'ngrokd-open-'));
    const file = join(dir, 'ngrokd-ui.html');
    const files = this.#files;
    const link = this.#mintLink(cleanup); // used → the file has served its purpose
    const expiry = setTimeout(cleanup, opts.ttlMs ?? OPEN_FILE_TTL_MS);
    expiry.unref();
    files.add(cleanup);
    function cleanup(): void {
      clearTimeout(expiry);
      link.revoke();
      rmSync(dir, { recursive: true, force: true });
      files.delete(cleanup);
    }
    try {
      writeFileSync(file, redirectPage(link.url), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      cleanup();
      throw err;
    }
    const command = process.platform === 'darwin' ? 'open' : 'xdg-open';
    const args = [file];
    const launched = Promise.resolve()
      .then(() => (opts.launch ?? defaultLauncher)(command, args))
      .catch((err: unknown) => {
        cleanup();
        throw err;
      });
    return { file, command, args: [...args], launched };
  }

  /** Remove every file not used yet (and revoke its link). */
  close(): void {
    for (const cleanup of [...this.#files]) cleanup();
  }
}
