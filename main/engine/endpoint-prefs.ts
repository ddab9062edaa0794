/**
 * The user's per-endpoint choices, by hostname, kept across restarts in the state directory
 * (endpoint_prefs.json, 0600): which endpoints are turned off (no listener, no hosts line; the IP
 * mapping stays, so turning one on again gives it the same address) and which are pinned to the
 * top of the window and the tray menu. A hostname that is not discovered now keeps its choice for
 * when it comes back.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { NgrokdError, errorCode } from '../common/errors.ts';
import { writeFileAtomic } from '../system/atomic-write.ts';

export const PREFS_FILE = 'endpoint_prefs.json';

const stored = z
  .object({
    version: z.literal(1),
    disabled: z.array(z.string().min(1).max(253)).max(100_000),
    pinned: z.array(z.string().min(1).max(253)).max(100_000),
  })
  .strict();

export class EndpointPrefs {
  readonly path: string;
  readonly #disabled: Set<string>;
  readonly #pinned: Set<string>;

  private constructor(path: string, disabled: Iterable<string>, pinned: Iterable<string>) {
    this.path = path;
    this.#disabled = new Set(disabled);
    this.#pinned = new Set(pinned);
  }

  /** The choices saved in `stateDir`; none when there is no file yet. A broken file fails, naming it. */
  static load(stateDir: string): EndpointPrefs {
    const path = join(stateDir, PREFS_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return new EndpointPrefs(path, [], []);
      throw prefsError(path, `cannot be read (${errorCode(err) ?? String(err)})`);
    }
    let parsed: z.infer<typeof stored>;
    try {
      parsed = stored.parse(JSON.parse(text));
    } catch (err) {
      throw prefsError(
        path,
        `is not a valid endpoint preferences file (${(err as Error).message.split('\n')[0]})`,
      );
    }
    return new EndpointPrefs(path, parsed.disabled, parsed.pinned);
  }

  get disabled(): ReadonlySet<string> {
    return this.#disabled;
  }

  get pinned(): ReadonlySet<string> {
    return this.#pinned;
  }

  /** Set one choice and save; false when it was already so. */
  async set(kind: 'disabled' | 'pinned', hostname: string, on: boolean): Promise<boolean> {
    const set = kind === 'disabled' ? this.#disabled : this.#pinned;
    if (set.has(hostname) === on) return false;
    if (on) set.add(hostname);
    else set.delete(hostname);
    try {
      const json = { version: 1, disabled: [...this.#disabled].sort(), pinned: [...this.#pinned].sort() };
      await writeFileAtomic(this.path, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o600 });
    } catch (err) {
      // Not saved means not done: the choice is undone so what is shown is what will persist.
      if (on) set.delete(hostname);
      else set.add(hostname);
      throw new NgrokdError(
        'STATE_DIR',
        `could not save the endpoint preferences ${this.path}: ${err instanceof Error ? err.message : String(err)}`,
        'Check that the state directory exists, is writable and the disk is not full.',
        { cause: err },
      );
    }
    return true;
  }
}

function prefsError(path: string, why: string): NgrokdError {
  return new NgrokdError(
    'STATE_DIR',
    `the endpoint preferences ${path} ${why}`,
    `Fix or delete ${path} (it only holds which endpoints are turned off or pinned), then start again.`,
  );
}
