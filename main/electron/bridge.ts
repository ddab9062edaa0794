/**
 * The IPC channels between main and the preload. The preload bundle imports only this file (and
 * types), so it stays a few lines of CommonJS with no Node imports.
 */
import type { UserFacingError } from '../common/errors.ts';

/** Every contract command travels on this one channel as (method, params); main validates both. */
export const INVOKE_CHANNEL = 'ngrokd:invoke';
/** Main pushes StateSnapshots here to windows that called `subscribe` (throttled). */
export const STATE_CHANNEL = 'ngrokd:state';

/**
 * What `invoke` resolves to over IPC. Errors travel as values: Electron turns a thrown error into a
 * bare message string, and the UI needs the code and the fix.
 */
export type InvokeReply = { ok: true; result: unknown } | { ok: false; error: UserFacingError };
