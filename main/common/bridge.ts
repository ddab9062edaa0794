/**
 * The one seam between the UI and the engine. The desktop shell's preload exposes an object of
 * exactly this shape as `window.ngrokd` (contextBridge); browser mode uses the HTTP bridge. Nothing
 * else in the UI knows which one it talks to.
 */
import type { CommandName, CommandParams, CommandResult, StateSnapshot, StateUpdate } from './contract.ts';
import type { UserFacingError } from './errors.ts';

export interface NgrokdBridge {
  /** Run one command of the contract. Rejects with a plain `UserFacingError` object (code, message, fix). */
  invoke<C extends CommandName>(cmd: C, params: CommandParams<C>): Promise<CommandResult<C>>;
  /**
   * Receive state snapshots: one promptly, then at most one a second and only when something
   * changed. `onConnection` (optional; a desktop shell may never call it) reports a lost push
   * channel with an error and its recovery with null. Returns the unsubscribe function.
   */
  subscribe(
    onState: (snapshot: StateSnapshot) => void,
    onConnection?: (problem: UserFacingError | null) => void,
  ): () => void;
  /**
   * The same state as the transport carries it: a versioned snapshot, then deltas against it
   * (main/common/state-delta.ts); `subscribe` is `followState` over this. A UI in another realm than
   * the bridge follows this one itself (the preload's objects reach the page through contextBridge,
   * which copies every argument: a push should copy what changed, not 10,000 endpoints). Optional:
   * a bridge without it is used through `subscribe`.
   */
  subscribeUpdates?(
    onUpdate: (update: StateUpdate) => void,
    onConnection?: (problem: UserFacingError | null) => void,
  ): () => void;
}
