/**
 * The engine runs in the app's main process. The host owns the running daemon (engine + control
 * socket, so the CLI's `ngrokd status` works against the app) and can restart it, which is how the
 * app switches between user mode and helper mode after the helper is installed or removed. Its
 * handlers forward to whichever engine is current.
 */
import { commands, type CommandHandlers, type CommandName, type StateSnapshot } from '../common/contract.ts';
import { NgrokdError } from '../common/errors.ts';
import type { RunningDaemon } from '../engine/daemon.ts';
import type { PathChange } from '../engine/path-monitor.ts';

export type DaemonLike = Pick<RunningDaemon, 'stop'> & {
  engine: Pick<RunningDaemon['engine'], 'handlers' | 'snapshot' | 'networkChanged'>;
};

export class EngineHost {
  readonly handlers: CommandHandlers;
  readonly #start: () => Promise<DaemonLike>;
  #daemon: DaemonLike | null = null;
  #transition: Promise<void> = Promise.resolve();

  constructor(start: () => Promise<DaemonLike>) {
    this.#start = start;
    const forward = (name: CommandName) => (params: unknown) =>
      (this.#current().engine.handlers[name] as (p: unknown) => unknown)(params);
    this.handlers = Object.fromEntries(
      Object.keys(commands).map((name) => [name, forward(name as CommandName)]),
    ) as CommandHandlers;
  }

  get running(): boolean {
    return this.#daemon !== null;
  }

  #current(): DaemonLike {
    if (this.#daemon === null) {
      throw new NgrokdError(
        'NOT_RUNNING',
        'the engine is restarting',
        'Try again in a moment; if it persists, quit and reopen ngrokd.',
      );
    }
    return this.#daemon;
  }

  snapshot(): StateSnapshot {
    return this.#current().engine.snapshot();
  }

  /**
   * The OS said the machine resumed (Electron's powerMonitor): tell the engine now rather than at
   * its next clock check. Ignored while the engine is restarting, which starts afresh anyway.
   */
  networkChanged(reason: PathChange, detail: string): void {
    this.#daemon?.engine.networkChanged(reason, detail);
  }

  async start(): Promise<void> {
    await this.#serial(async () => {
      if (this.#daemon === null) this.#daemon = await this.#start();
    });
  }

  /** Stop, run `during` (e.g. uninstall the helper) and start again, even when `during` fails. */
  async restart(during?: () => Promise<void>): Promise<void> {
    await this.#serial(async () => {
      const old = this.#daemon;
      this.#daemon = null;
      await old?.stop();
      try {
        await during?.();
      } finally {
        this.#daemon = await this.#start();
      }
    });
  }

  async stop(): Promise<void> {
    await this.#serial(async () => {
      const old = this.#daemon;
      this.#daemon = null;
      await old?.stop();
    });
  }

  #serial(step: () => Promise<void>): Promise<void> {
    const next = this.#transition.then(step);
    this.#transition = next.catch(() => undefined);
    return next;
  }
}
