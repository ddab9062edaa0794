/**
 * Errors are values with a user-facing sentence. Every failure a user can act on has a stable code,
 * a one-line message that names the offending value, and the fix. The UI, `status` and the CLI all
 * show the same text.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'Configuration is invalid',
  API_KEY_MISSING: 'No ngrok API key configured',
  API_AUTH: 'ngrok API key rejected',
  PLAN_GATE: 'Kubernetes bindings not enabled for this account',
  RATE_LIMITED: 'ngrok API rate limit reached',
  API_UNAVAILABLE: 'ngrok API unreachable',
  API_ERROR: 'ngrok API error',
  API_THROTTLED: 'ngrok API requests held back to stay under the rate limit',
  CERT_RENEWAL: 'Client certificate renewal failing',
  INGRESS_UNTRUSTED: 'Binding ingress certificate not trusted',
  CLIENT_CERT_REJECTED: 'Client certificate rejected by the binding ingress',
  INGRESS_UNREACHABLE: 'Binding ingress unreachable',
  INGRESS_RESET: 'Binding ingress dropped the connection',
  UPGRADE_REFUSED: 'Binding ingress refused the connection',
  PROTOCOL_ERROR: 'Malformed binding protocol frame',
  SUBNET_INVALID: 'Subnet is invalid',
  SUBNET_EXHAUSTED: 'Subnet has no free addresses',
  SUBNET_CONFLICT: 'Subnet overlaps an existing network',
  INTERFACE_IN_USE: 'Another ngrokd is already using the interface',
  CLEANUP_INCOMPLETE: 'Something ngrokd made could not be removed',
  HOSTNAME_INVALID: 'Hostname is invalid',
  URL_INVALID: 'Endpoint URL is invalid',
  HOSTS_FILE_BROKEN: 'Managed section of the hosts file is broken',
  HOSTS_FILE_WRITE: 'Could not write the hosts file',
  PORT_IN_USE: 'Local port already in use',
  LISTEN_FAILED: 'Could not listen on a local address',
  HELPER_MISSING: 'Privileged helper not installed',
  HELPER_ERROR: 'Privileged helper error',
  STATE_DIR: 'State directory problem',
  SECRET_STORAGE: 'API key storage is not protected by the OS keychain',
  NOT_RUNNING: 'ngrokd daemon not running',
  UI_TOKEN: 'Browser UI link is missing its token',
  DESKTOP_ONLY: 'Only the desktop app can do this',
  INSPECTOR_OFF: 'The request inspector is off',
  REQUEST_NOT_FOUND: 'No such inspected request',
  REPLAY_UNAVAILABLE: 'This request cannot be replayed',
  REPLAY_FAILED: 'The replay did not complete',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface UserFacingError {
  code: ErrorCode;
  /** One line naming the offending value. */
  message: string;
  /** What the user can do about it. */
  fix: string;
  /** ngrok error code (ERR_NGROK_…) when the failure came from ngrok. */
  ngrokCode?: string;
  /** RFC 3339 time it was last seen. */
  at?: string;
}

export class NgrokdError extends Error {
  readonly code: ErrorCode;
  readonly fix: string;
  readonly ngrokCode: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    fix: string,
    options?: { cause?: unknown; ngrokCode?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NgrokdError';
    this.code = code;
    this.fix = fix;
    this.ngrokCode = options?.ngrokCode;
  }

  toJSON(): UserFacingError {
    return {
      code: this.code,
      message: this.message,
      fix: this.fix,
      ...(this.ngrokCode === undefined ? {} : { ngrokCode: this.ngrokCode }),
    };
  }
}

/** Convert anything thrown into the user-facing shape; unknown errors keep their message. */
export function toUserFacing(err: unknown, fallback: ErrorCode = 'API_ERROR'): UserFacingError {
  if (err instanceof NgrokdError) return { ...err.toJSON(), at: new Date().toISOString() };
  const message = err instanceof Error ? err.message : String(err);
  return { code: fallback, message, fix: 'See the daemon log for details.', at: new Date().toISOString() };
}

/** The `code` of a Node system error (ENOENT, EADDRINUSE…), or undefined for anything else. */
export function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
