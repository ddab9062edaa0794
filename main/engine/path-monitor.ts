/**
 * Notices the two things that silently kill connections to the ingress: the machine slept (or the
 * process was frozen), and the network path changed. Either way, warm connections and cached TLS
 * sessions belong to a path that is gone, and the API should be asked again at once instead of at
 * the next poll. Both are polled on one cheap timer:
 *  - a resume shows as the wall clock running ahead of the monotonic one (the monotonic clock stops
 *    while the machine sleeps, on Linux and macOS alike), or as the timer itself firing far too
 *    late (the whole process was stopped);
 *  - a path change shows as a new fingerprint of the route to the ingress (network-path.ts).
 * The desktop shell reports Electron's `powerMonitor` resume through the same door
 * (Engine.networkChanged), which is quicker than waiting for the next tick.
 */
import { performance } from 'node:perf_hooks';

export type PathChange = 'resume' | 'network';

/** Check every 2 s: a change is acted on within a tick, and a tick costs one route lookup. */
export const PATH_CHECK_INTERVAL_MS = 2_000;
/** A clock gap this large is a sleep (or a stop), not scheduling noise on a loaded machine. */
export const CLOCK_JUMP_MS = 5_000;

export interface PathMonitorOptions {
  /** Where the path leads (the ingress's address once known); called on every tick. */
  destination(): string;
  /** The path's fingerprint to `destination` (network-path.ts). */
  fingerprint(destination: string): string;
  onChange(reason: PathChange, detail: string): void;
  intervalMs?: number;
  jumpMs?: number;
  /** Clocks, for tests: wall (Date.now) and monotonic (performance.now). */
  wallNow?: () => number;
  monoNow?: () => number;
}

export class PathMonitor {
  readonly #o: Required<PathMonitorOptions>;
  #timer: NodeJS.Timeout | undefined;
  #lastWall: number;
  #lastMono: number;
  #lastDestination: string;
  #lastPath: string;

  constructor(options: PathMonitorOptions) {
    this.#o = {
      intervalMs: PATH_CHECK_INTERVAL_MS,
      jumpMs: CLOCK_JUMP_MS,
      wallNow: Date.now,
      monoNow: () => performance.now(),
      ...options,
    };
    this.#lastWall = this.#o.wallNow();
    this.#lastMono = this.#o.monoNow();
    this.#lastDestination = this.#o.destination();
    this.#lastPath = this.#o.fingerprint(this.#lastDestination);
  }

  /** The fingerprint last seen. */
  get path(): string {
    return this.#lastPath;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.tick(), this.#o.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One check (the timer's; tests call it directly). A resume wins over a path change it caused. */
  tick(): void {
    const wall = this.#o.wallNow();
    const mono = this.#o.monoNow();
    const slept = wall - this.#lastWall - (mono - this.#lastMono);
    const stalled = mono - this.#lastMono - this.#o.intervalMs;
    this.#lastWall = wall;
    this.#lastMono = mono;
    const destination = this.#o.destination();
    const path = this.#o.fingerprint(destination);
    // A new destination (the first dial told us the ingress's address) is a new baseline.
    const before = destination === this.#lastDestination ? this.#lastPath : path;
    this.#lastDestination = destination;
    this.#lastPath = path;
    if (slept >= this.#o.jumpMs) this.#o.onChange('resume', `the machine slept for about ${seconds(slept)}`);
    else if (stalled >= this.#o.jumpMs)
      this.#o.onChange('resume', `ngrokd was not scheduled for about ${seconds(stalled)}`);
    else if (path !== before)
      this.#o.onChange('network', `the route to the ingress changed: ${before} → ${path}`);
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
