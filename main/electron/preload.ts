/**
 * The preload: the renderer's only way into main. It exposes exactly the NgrokdBridge shape
 * (main/common/bridge.ts) as `window.ngrokd`, never Electron objects or the IPC event, and
 * runs sandboxed: bundled to out/preload/preload.cjs with no imports but electron's own.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { StateSnapshot } from '../common/contract.ts';
import type { NgrokdBridge } from '../common/bridge.ts';
import { INVOKE_CHANNEL, STATE_CHANNEL, type InvokeReply } from './bridge.ts';

/** The renderer asks for at most one push a second. */
const PUSH_INTERVAL_MS = 1000;

async function invoke(cmd: unknown, params: unknown): Promise<unknown> {
  const reply = (await ipcRenderer.invoke(INVOKE_CHANNEL, cmd, params ?? {})) as InvokeReply;
  // A plain object, not an Error: across contextBridge an Error keeps only its message.
  if (!reply.ok) throw { ...reply.error };
  return reply.result;
}

function subscribe(onState: (snapshot: StateSnapshot) => void): () => void {
  let active = true;
  const listener = (_event: IpcRendererEvent, snapshot: StateSnapshot): void => {
    if (active) onState(snapshot);
  };
  ipcRenderer.on(STATE_CHANNEL, listener);
  const start = (): void => {
    invoke('subscribe', { intervalMs: PUSH_INTERVAL_MS }).then(
      (snapshot) => {
        if (active) onState(snapshot as StateSnapshot);
      },
      () => {
        if (active) setTimeout(start, PUSH_INTERVAL_MS); // e.g. the engine is restarting
      },
    );
  };
  start();
  return () => {
    active = false;
    ipcRenderer.removeListener(STATE_CHANNEL, listener);
  };
}

// Typed against the renderer's interface so the two cannot drift; main validates every call anyway.
const bridge: NgrokdBridge = {
  invoke: (cmd, params) => invoke(cmd, params) as Promise<never>,
  subscribe,
};

contextBridge.exposeInMainWorld('ngrokd', bridge);
