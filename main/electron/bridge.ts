/**
 * The IPC channels between main and the preload. The preload bundle imports only this file, the
 * pure state-delta module and types, so it stays CommonJS with no Node imports.
 */
import type { UserFacingError } from '../common/errors.ts';

/** Every contract command travels on this one channel as (method, params); main validates both. */
export const INVOKE_CHANNEL = 'ngrokd:invoke';
/**
 * Main pushes the subscribed event's data here to windows that called `subscribe` (throttled):
 * whole snapshots for `state`, versioned snapshots then deltas for `stateUpdate` (the preload's).
 */
export const STATE_CHANNEL = 'ngrokd:state';

/**
 * What `invoke` resolves to over IPC. Errors travel as values: Electron turns a thrown error into a
 * bare message string, and the UI needs the code and the fix.
 */
export type InvokeReply = { ok: true; result: unknown } | { ok: false; error: UserFacingError };
