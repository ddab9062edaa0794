/**
 * The desktop shell's bridge (`window.ngrokd`, from the preload) with its state followed in the
 * page's own realm: the preload's objects reach the page through contextBridge, which copies every
 * argument, so the page takes the small updates (deltas) and keeps the whole state itself, with
 * unchanged endpoints keeping their objects (main/common/state-delta.ts).
 */
import type { NgrokdBridge } from '../../../main/common/bridge.ts';
import { followState } from '../../../main/common/state-delta.ts';

export function followedHere(bridge: NgrokdBridge): NgrokdBridge {
  const { subscribeUpdates } = bridge;
  if (subscribeUpdates === undefined) return bridge;
  return {
    invoke: (cmd, params) => bridge.invoke(cmd, params),
    subscribe: (onState, onConnection) => followState(subscribeUpdates, onState, onConnection),
    subscribeUpdates,
  };
}
