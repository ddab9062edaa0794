/**
 * What a failed ngrok API request means to a user: each failure becomes an NgrokApiError with its own
 * code and fix (API 401/403, the plan gate 19002, 429 and 5xx each have one), and a retry class
 * that tells the client whether trying again is safe. Messages never carry the API key: every text
 * that came from the wire goes through `redact` first.
 */
import { errorCode, NgrokdError, type ErrorCode } from '../../common/errors.ts';
import { durationText } from './duration-text.ts';
import { errorBodySchema, type ErrorBody } from './schemas.ts';

/** Why a failed request may be retried: throttled (the server did not act) or unavailable (it may have). */
export type RetryClass = 'throttled' | 'unavailable' | 'none';

/** An NgrokdError that also tells what happened on the wire. */
export class NgrokApiError extends NgrokdError {
  /** HTTP status, undefined when no response arrived (network error, timeout). */
  readonly status: number | undefined;
  readonly retryClass: RetryClass;
  /** How long ngrok asked to wait (`Retry-After`), when it did: the next try must not come sooner. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    fix: string,
    wire: {
      status: number | undefined;
      retryClass: RetryClass;
      ngrokCode?: string;
      cause?: unknown;
      retryAfterMs?: number;
    },
  ) {
    super(code, message, fix, {
      ...(wire.ngrokCode === undefined ? {} : { ngrokCode: wire.ngrokCode }),
      ...(wire.cause === undefined ? {} : { cause: wire.cause }),
    });
    this.name = 'NgrokApiError';
    this.status = wire.status;
    this.retryClass = wire.retryClass;
    this.retryAfterMs = wire.retryAfterMs;
  }
}

const FIX = {
  auth: 'Create an API key at https://dashboard.ngrok.com/api-keys and set it as NGROK_API_KEY (or in the app settings).',
  plan: 'Kubernetes Operators and Bindings are a paid ngrok feature: upgrade the plan at https://dashboard.ngrok.com/billing or ask ngrok support to enable them, then retry.',
  rate: 'The ngrok API allows 120 requests per minute for the whole account, shared with every other API client it runs; ngrokd backs off and retries. Raise bound_endpoints.poll_interval or stop other clients if this persists.',
  unavailable:
    'Check the network connection and api.url in the config, and https://status.ngrok.com for an outage; ngrokd keeps retrying.',
  sign: 'ngrokd tries again later with a new key; if it keeps failing, report it to ngrok support with the operation id.',
  other: 'See the daemon log for the request; if it persists, report it with the operation id.',
} as const;

function ngrokNumber(code: string | undefined): number | undefined {
  const match = code === undefined ? null : /ERR_NGROK_([0-9]+)/.exec(code);
  return match === null ? undefined : Number(match[1]);
}

/** `text` on one line, at most `max` characters. */
export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** A response the client cannot use (not JSON, not the expected shape, a bad page link). */
export function invalidResponse(message: string): NgrokApiError {
  return new NgrokApiError('API_ERROR', `ngrok API ${message}`, FIX.other, {
    status: undefined,
    retryClass: 'none',
  });
}

/**
 * A non-2xx answer to `what` (`METHOD /path`) from the API at `origin`, classified by status and
 * ngrok code. `retryAfterMs` is the answer's `Retry-After`, when it had one: a throttled error
 * carries it and says it.
 */
export function httpError(
  what: string,
  status: number,
  text: string,
  {
    origin,
    redact,
    retryAfterMs,
  }: { origin: string; redact: (text: string) => string; retryAfterMs?: number | undefined },
): NgrokApiError {
  let parsed: ErrorBody = {};
  try {
    parsed = errorBodySchema.catch({}).parse(JSON.parse(text));
  } catch {
    parsed = { msg: oneLine(text, 200) };
  }
  const ngrokCode = parsed.error_code;
  const msg = redact(oneLine(parsed.msg ?? '') || 'no message');
  const operation = parsed.details?.operation_id;
  const detail = `(HTTP ${status}${ngrokCode === undefined ? '' : ` ${ngrokCode}`}: ${msg}${operation === undefined ? '' : `; operation ${operation}`})`;
  const n = ngrokNumber(ngrokCode);
  const make = (code: ErrorCode, message: string, fix: string, retryClass: RetryClass) =>
    new NgrokApiError(code, message, fix, {
      status,
      retryClass,
      ...(ngrokCode === undefined ? {} : { ngrokCode }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  const wait = retryAfterMs === undefined ? '' : `; ngrok asked to wait ${durationText(retryAfterMs)}`;

  if (n === 218)
    return make(
      'API_ERROR',
      `ngrok API ${what} was refused for a missing Ngrok-Version header ${detail}`,
      FIX.other,
      'none',
    );
  if (n === 19002) {
    return make(
      'PLAN_GATE',
      `Kubernetes Operators and Bindings are not enabled on this ngrok account's plan ${detail}`,
      FIX.plan,
      'none',
    );
  }
  if (status === 401 || status === 403 || n === 200 || n === 201)
    return make('API_AUTH', `API key rejected ${detail}`, FIX.auth, 'none');
  if (n === 225) {
    return make(
      'RATE_LIMITED',
      `ngrok API refused ${what}: too many simultaneous requests ${detail}${wait}`,
      FIX.rate,
      'throttled',
    );
  }
  if (status === 429 || n === 226) {
    return make(
      'RATE_LIMITED',
      `ngrok API rate limit reached on ${what} ${detail}${wait}`,
      FIX.rate,
      'throttled',
    );
  }
  if (n === 20006) {
    return make(
      'API_ERROR',
      `ngrok could not sign the client certificate request sent with ${what} ${detail}`,
      FIX.sign,
      status >= 500 ? 'unavailable' : 'none',
    );
  }
  if (status >= 500) {
    return make(
      'API_UNAVAILABLE',
      `ngrok API at ${origin} failed ${what} ${detail}`,
      FIX.unavailable,
      'unavailable',
    );
  }
  return make('API_ERROR', `ngrok API ${what} failed ${detail}`, FIX.other, 'none');
}

/** No answer to a request for `url`: a network error, or none within `timeoutMs`. */
export function transportError(
  url: URL,
  err: unknown,
  { timedOut, timeoutMs, redact }: { timedOut: boolean; timeoutMs: number; redact: (text: string) => string },
): NgrokApiError {
  const target = `${url.origin}${url.pathname}`;
  let why: string;
  if (timedOut) why = `did not answer within ${durationText(timeoutMs)}`;
  else {
    const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
    const code = errorCode(cause);
    const text = cause instanceof Error ? cause.message : String(cause);
    why = `is unreachable (${redact(oneLine(code ?? text, 120))})`;
  }
  return new NgrokApiError('API_UNAVAILABLE', `ngrok API at ${target} ${why}`, FIX.unavailable, {
    status: undefined,
    retryClass: 'unavailable',
    cause: err,
  });
}

/**
 * `what` was not sent: ngrok's `Retry-After` asked this client to wait `ms` more, longer than a
 * request may wait. The caller's next try must come no sooner (`retryAfterMs`).
 */
export function heldBackError(what: string, ms: number): NgrokApiError {
  return new NgrokApiError(
    'RATE_LIMITED',
    `ngrok API ${what} not sent: ngrok asked this client to wait ${durationText(ms)} more (Retry-After)`,
    FIX.rate,
    { status: undefined, retryClass: 'throttled', retryAfterMs: ms },
  );
}
