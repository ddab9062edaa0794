/**
 * Virtual time for tests of code that takes `now` and `sleep` (the API client, its budget,
 * registration, the simulator): a sleep moves the clock forward instead of waiting, so an hour of
 * polling runs in moments and a test asserts what happened when, never how long it took.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

export class VirtualClock {
  #t: number;

  /** Starts at `start` (default: now, rounded down to a whole second, as HTTP dates are). */
  constructor(start = Math.floor(Date.now() / 1000) * 1000) {
    this.#t = start;
  }

  readonly now = (): number => this.#t;

  /** Resolves on the next turn of the event loop with the clock at least `ms` later. */
  readonly sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    signal?.throwIfAborted();
    const due = this.#t + Math.max(0, ms);
    await nextTurn();
    signal?.throwIfAborted();
    this.#t = Math.max(this.#t, due);
  };

  advance(ms: number): void {
    this.#t += ms;
  }

  set(at: number): void {
    this.#t = Math.max(this.#t, at);
  }
}
