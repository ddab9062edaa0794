/**
 * The renderer's way into main, derived from the contract: one `ngrokd:invoke` channel carries
 * (method, params) for every command, and dispatch() — the same validation the control socket uses —
 * rejects unknown methods and bad params. The sender frame is checked before anything else. A
 * window's `subscribe` subscribes it to the desktop's state feed, which pushes the subscribed
 * event's data on `ngrokd:state`: whole snapshots for `state`, deltas for `stateUpdate` (what the
 * preload asks for: a push then costs what changed, not a structured clone of every endpoint).
 */
import type { IpcMainInvokeEvent } from 'electron';
import {
  CONTROL_PROTOCOL_VERSION,
  DEFAULT_EVENT_INTERVAL_MS,
  type CommandHandlers,
  type EventData,
  type EventName,
} from '../common/contract.ts';
import type { UserFacingError } from '../common/errors.ts';
import { dispatch } from '../engine/dispatch.ts';
import { FEED_EVENTS, type StateFeed } from '../engine/state-feed.ts';
import { INVOKE_CHANNEL, STATE_CHANNEL, type InvokeReply } from './bridge.ts';
import { isTrustedSender, type SenderFrame } from './security.ts';

/** The fields of an invoke event the bridge reads. */
export interface InvokeEvent {
  senderFrame: SenderFrame | null;
  sender: PushTarget;
}

/** A window's webContents as far as pushes go. */
export interface PushTarget {
  readonly id: number;
  send(channel: string, data: unknown): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

const UNTRUSTED: UserFacingError = {
  code: 'PROTOCOL_ERROR',
  message: 'IPC request refused: it does not come from the ngrokd window',
  fix: 'Only the app’s own page may call ngrokd.',
};

/** Push at most this often per window (≤ 2/s), whatever interval the renderer asks for. */
export const MIN_PUSH_INTERVAL_MS = 500;

/**
 * Each subscribed window's subscription to the state feed: pushes only when the state changed, never
 * faster than the window asked; one per window (subscribing again replaces it), gone with the window.
 */
export class WindowSubscriptions {
  readonly #feed: StateFeed;
  readonly #unsubscribe = new Map<number, () => void>();

  constructor(feed: StateFeed) {
    this.#feed = feed;
  }

  get size(): number {
    return this.#unsubscribe.size;
  }

  /** Subscribe `target` to `name`; returns the current state, the reply (so it is not pushed again). */
  add<E extends EventName>(target: PushTarget, intervalMs: number, name: E): EventData<E> {
    const form = FEED_EVENTS[name];
    const { initial, unsubscribe } = this.#feed.subscribe({
      minIntervalMs: Math.max(MIN_PUSH_INTERVAL_MS, intervalMs),
      deltas: form.deltas,
      send: (event) => {
        if (target.isDestroyed()) this.#remove(target.id);
        else target.send(STATE_CHANNEL, form.data(event));
      },
    });
    const previous = this.#unsubscribe.get(target.id);
    previous?.();
    this.#unsubscribe.set(target.id, unsubscribe);
    if (previous === undefined) target.once('destroyed', () => this.#remove(target.id));
    return form.data(initial);
  }

  #remove(id: number): void {
    this.#unsubscribe.get(id)?.();
    this.#unsubscribe.delete(id);
  }
}

/**
 * Handle one invoke: sender check, then the contract's validation and the handler; `subscribe`
 * subscribes the sending window to the state feed.
 */
export async function handleInvoke(
  handlers: CommandHandlers,
  windows: WindowSubscriptions,
  event: InvokeEvent,
  method: unknown,
  params: unknown,
): Promise<InvokeReply> {
  if (!isTrustedSender(event.senderFrame)) return { ok: false, error: UNTRUSTED };
  const response = await dispatch(
    handlers,
    { v: CONTROL_PROTOCOL_VERSION, id: 0, method, params },
    {
      subscribe: ({ event: name, intervalMs }) =>
        windows.add(event.sender, intervalMs ?? DEFAULT_EVENT_INTERVAL_MS, name),
    },
  );
  if ('error' in response) return { ok: false, error: response.error };
  const { result } = response as { result: unknown };
  return { ok: true, result };
}

/** Register the bridge; returns its removal. */
export function registerBridge(
  ipcMain: IpcMainLike,
  handlers: CommandHandlers,
  windows: WindowSubscriptions,
): () => void {
  ipcMain.handle(INVOKE_CHANNEL, (event, method, params) =>
    handleInvoke(handlers, windows, event, method, params),
  );
  return () => ipcMain.removeHandler(INVOKE_CHANNEL);
}
