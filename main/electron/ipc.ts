/**
 * The renderer's way into main, derived from the contract: one `ngrokd:invoke` channel carries
 * (method, params) for every command, and dispatch() — the same validation the control socket uses —
 * rejects unknown methods and bad params. The sender frame is checked before anything else. State
 * reaches subscribed windows through a throttled push.
 */
import type { IpcMainInvokeEvent } from 'electron';
import { CONTROL_PROTOCOL_VERSION, type CommandHandlers, type StateSnapshot } from '../common/contract.ts';
import type { UserFacingError } from '../common/errors.ts';
import { dispatch } from '../engine/dispatch.ts';
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

/** Sends state to subscribed windows: only when it changed, and never faster than each one asked. */
export class StateBroadcaster {
  readonly #subscribers = new Map<
    number,
    { target: PushTarget; intervalMs: number; sentAt: number; last: string }
  >();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get size(): number {
    return this.#subscribers.size;
  }

  /** `initial` is what the subscribe call returned, so it is not pushed again. */
  add(target: PushTarget, intervalMs: number, initial: string): void {
    const known = this.#subscribers.has(target.id);
    this.#subscribers.set(target.id, {
      target,
      intervalMs: Math.max(MIN_PUSH_INTERVAL_MS, intervalMs),
      sentAt: this.#now(),
      last: initial,
    });
    if (!known) target.once('destroyed', () => this.#subscribers.delete(target.id));
  }

  /** Called on every state tick with the snapshot and its JSON (computed once for everyone). */
  publish(snapshot: StateSnapshot, json: string): void {
    const now = this.#now();
    for (const [id, sub] of this.#subscribers) {
      if (sub.target.isDestroyed()) {
        this.#subscribers.delete(id);
        continue;
      }
      if (json === sub.last || now - sub.sentAt < sub.intervalMs) continue;
      sub.target.send(STATE_CHANNEL, snapshot);
      sub.sentAt = now;
      sub.last = json;
    }
  }
}

/** Handle one invoke: sender check, then the contract's validation and the handler. */
export async function handleInvoke(
  handlers: CommandHandlers,
  broadcaster: StateBroadcaster,
  event: InvokeEvent,
  method: unknown,
  params: unknown,
): Promise<InvokeReply> {
  if (!isTrustedSender(event.senderFrame)) return { ok: false, error: UNTRUSTED };
  const { response, subscribeMs } = await dispatch(handlers, {
    v: CONTROL_PROTOCOL_VERSION,
    id: 0,
    method,
    params,
  });
  if ('error' in response) return { ok: false, error: response.error };
  const { result } = response as { result: unknown };
  if (subscribeMs !== undefined) broadcaster.add(event.sender, subscribeMs, JSON.stringify(result));
  return { ok: true, result };
}

/** Register the bridge; returns its removal. */
export function registerBridge(
  ipcMain: IpcMainLike,
  handlers: CommandHandlers,
  broadcaster: StateBroadcaster,
): () => void {
  ipcMain.handle(INVOKE_CHANNEL, (event, method, params) =>
    handleInvoke(handlers, broadcaster, event, method, params),
  );
  return () => ipcMain.removeHandler(INVOKE_CHANNEL);
}
