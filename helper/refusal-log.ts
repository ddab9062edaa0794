/**
 * Log lines about refused peers, bounded: the first refusal of a uid is logged at once, later ones
 * within the same window are only counted and reported in one line when the window is over. A
 * stranger hammering the socket therefore costs one line a minute, not one line a connection.
 */
import type { StructuredLogger } from '../main/common/logger.ts';

type RefusalLogger = Pick<StructuredLogger, 'warn'>;

const DEFAULT_WINDOW_MS = 60_000;
/** Distinct keys remembered; past this the oldest window is reported and forgotten. */
const MAX_KEYS = 256;

interface Window {
  started: number;
  suppressed: number;
  fields: object;
  message: string;
}

export class RefusalLog {
  readonly #logger: RefusalLogger;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();
  #timer: NodeJS.Timeout | undefined;

  constructor(logger: RefusalLogger, options: { windowMs?: number; now?: () => number } = {}) {
    this.#logger = logger;
    this.#windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Record one refusal of `key` (e.g. the uid); logs it unless one was logged this window. */
  refused(key: string, fields: object, message: string): void {
    const now = this.#now();
    const window = this.#windows.get(key);
    if (window !== undefined && now - window.started < this.#windowMs) {
      window.suppressed += 1;
      window.fields = fields;
      this.#schedule();
      return;
    }
    if (window !== undefined) this.#report(key, window);
    if (this.#windows.size >= MAX_KEYS) {
      const [oldestKey, oldest] = this.#windows.entries().next().value as [string, Window];
      this.#report(oldestKey, oldest);
    }
    this.#windows.set(key, { started: now, suppressed: 0, fields, message });
    this.#logger.warn(fields, message);
  }

  /** Report what is still counted (on shutdown). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const [key, window] of [...this.#windows]) this.#report(key, window);
  }

  #report(key: string, window: Window): void {
    this.#windows.delete(key);
    if (window.suppressed > 0)
      this.#logger.warn(
        { ...window.fields, suppressed: window.suppressed, windowMs: this.#windowMs },
        `${window.message} (${window.suppressed} more like it not logged)`,
      );
  }

  /** One timer for all windows: report those that are over, so counts are not held forever. */
  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = this.#now();
      for (const [key, window] of [...this.#windows]) {
        if (now - window.started >= this.#windowMs) this.#report(key, window);
      }
      if ([...this.#windows.values()].some((w) => w.suppressed > 0)) this.#schedule();
    }, this.#windowMs);
    this.#timer.unref();
  }
}
