/**
 * One clock for everything in main that follows the engine's state (the window push, the tray, the
 * notifications, the traffic title): the snapshot is taken (and serialised, if anyone needs it) once
 * per tick, and each consumer decides for itself whether anything it shows changed.
 */
import type { StateSnapshot } from '../common/contract.ts';

/** `json()` serialises the snapshot once per tick, only if some listener needs it. */
export type StateListener = (snapshot: StateSnapshot, json: () => string) => void;

export interface StateFeedOptions {
  snapshot(): StateSnapshot;
  /** Default 500 ms: pushes to the window stay at ≤ 2/s. */
  intervalMs?: number;
  onError?: (err: unknown) => void;
}

export class StateFeed {
  readonly #options: StateFeedOptions;
  readonly #listeners = new Set<StateListener>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: StateFeedOptions) {
    this.#options = options;
  }

  add(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Take a snapshot now (also after a command, so the tray reacts without waiting a tick). */
  tick(): void {
    let snapshot: StateSnapshot;
    try {
      snapshot = this.#options.snapshot();
    } catch (err) {
      this.#options.onError?.(err); // e.g. the engine is restarting
      return;
    }
    let serialised: string | undefined;
    const json = (): string => (serialised ??= JSON.stringify(snapshot));
    for (const listener of this.#listeners) {
      try {
        listener(snapshot, json);
      } catch (err) {
        this.#options.onError?.(err);
      }
    }
  }

  start(): void {
    this.stop();
    this.#timer = setInterval(() => this.tick(), this.#options.intervalMs ?? 500);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
