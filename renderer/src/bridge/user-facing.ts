import type { UserFacingError } from '../../../main/common/errors.ts';

function isUserFacing(value: unknown): value is UserFacingError {
  const v = value as Partial<UserFacingError> | null;
  return typeof v === 'object' && v !== null && typeof v.code === 'string' && typeof v.message === 'string';
}

/** Whatever a bridge rejected with, as something the UI can show (message + fix). */
export function asUserFacing(err: unknown): UserFacingError {
  if (isUserFacing(err)) return { ...err, fix: typeof err.fix === 'string' ? err.fix : '' };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'API_ERROR', message, fix: 'See the ngrokd log for details.' };
}

export function daemonUnreachable(): UserFacingError {
  return {
    code: 'NOT_RUNNING',
    message: 'lost the connection to the ngrokd daemon',
    fix: 'Check that `ngrokd daemon --ui` is still running; this page reconnects by itself.',
  };
}
