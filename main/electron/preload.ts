/**
 * The preload: the renderer's only way into main. It exposes exactly the NgrokdBridge shape
 * (main/common/bridge.ts) as `window.ngrokd`, never Electron objects or the IPC event, and
 * runs sandboxed: bundled to out/preload/preload.cjs with no imports but electron's own (the pure
 * state-delta module is bundled in).
 *
 * The window holds one subscription to `stateUpdate` in main (subscribing again would replace it),
 * shared by every listener here: main pushes deltas, a replica here keeps the state they apply to,
 * so a listener that joins later starts from a snapshot of it and then gets the same deltas.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { StateUpdate } from '../common/contract.ts';
import type { NgrokdBridge } from '../common/bridge.ts';
import { followState, StateReplica } from '../common/state-delta.ts';
import { INVOKE_CHANNEL, STATE_CHANNEL, type InvokeReply } from './bridge.ts';

/** The renderer asks for at most one push a second. */
const PUSH_INTERVAL_MS = 1000;

async function invoke(cmd: unknown, params: unknown): Promise<unknown> {
  const reply = (await ipcRenderer.invoke(INVOKE_CHANNEL, cmd, params ?? {})) as InvokeReply;
  // A plain object, not an Error: across contextBridge an Error keeps only its message.
  if (!reply.ok) throw { ...reply.error };
  return reply.result;
}

type UpdateListener = (update: StateUpdate) => void;
const listeners = new Set<UpdateListener>();
const replica = new StateReplica();
let subscribed = false;

function deliver(update: StateUpdate): void {
  if (replica.apply(update) === null) {
    resubscribe(); // a delta that does not fit: start again from a snapshot
    return;
  }
  for (const listener of listeners) listener(update);
}

function resubscribe(): void {
  invoke('subscribe', { event: 'stateUpdate', intervalMs: PUSH_INTERVAL_MS }).then(
    (update) => deliver(update as StateUpdate),
    () => setTimeout(resubscribe, PUSH_INTERVAL_MS), // e.g. the engine is restarting
  );
}

function subscribeUpdates(onUpdate: UpdateListener): () => void {
  let active = true;
  const listener: UpdateListener = (update) => {
    if (active) onUpdate(update);
  };
  listeners.add(listener);
  if (!subscribed) {
    subscribed = true;
    ipcRenderer.on(STATE_CHANNEL, (_event: IpcRendererEvent, update: StateUpdate) => deliver(update));
    resubscribe();
  } else {
    const state = replica.state;
    // Joining a running subscription: the state as it is, then the same deltas as everyone.
    if (state !== null)
      queueMicrotask(() => listener({ kind: 'snapshot', version: replica.version, data: state }));
  }
  return () => {
    active = false;
    listeners.delete(listener);
  };
}

// Typed against the renderer's interface so the two cannot drift; main validates every call anyway.
const bridge: NgrokdBridge = {
  invoke: (cmd, params) => invoke(cmd, params) as Promise<never>,
  subscribe: (onState) => followState(subscribeUpdates, onState),
  subscribeUpdates,
};

contextBridge.exposeInMainWorld('ngrokd', bridge);
