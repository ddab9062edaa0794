/**
 * The privileged helper's wire protocol, written once for both ends (the helper server and the
 * app's HelperClientOps). A frame is a uint32 big-endian length followed by that many bytes of
 * UTF-8 JSON; anything over MAX_FRAME_BYTES is refused and the connection closed, so a peer can never
 * make the root process buffer without bound. Requests are declarative (the state that should exist)
 * and validated strictly; a `listen` reply carries the listening socket as an SCM_RIGHTS fd.
 */
import { z } from 'zod';
import { ERROR_CODES, NgrokdError, type ErrorCode, type UserFacingError } from '../main/common/errors.ts';
import { INTERFACE_KINDS, type InterfaceInfo } from '../main/common/privileged.ts';

/** Bumped on any incompatible change; the hello reply lets the app detect an older helper. */
export const HELPER_PROTOCOL_VERSION = 1;
/** Large enough for 65,536 addresses or ~15,000 long hostnames, small enough to refuse abuse. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/**
 * Before a successful hello the helper buffers at most this much per frame: enough for any request
 * to be answered with its own validation error, a quarter of what a greeted client may send.
 */
export const PRE_HELLO_MAX_FRAME_BYTES = 1024 * 1024;
/** One /16 worth of endpoint addresses. */
export const MAX_ADDRESSES = 65_536;
export const MAX_HOSTS_ENTRIES = 65_536;
const FRAME_HEADER_BYTES = 4;
const MAX_REQUEST_ID = 2 ** 31 - 1;

/** Where the helper listens: /run on Linux, /var/run on macOS. */
export function defaultHelperSocketPath(platform: NodeJS.Platform = process.platform): string {
  return platform === 'darwin' ? '/var/run/ngrokd-helper.sock' : '/run/ngrokd-helper.sock';
}

/** Text fields are bounded here; their meaning (IP in subnet, DNS name, interface name) is checked by RootOps. */
const ipText = z.string().max(15);

/** Every method: its params schema (strict) and its result schema (checked by the client). */
export const helperMethods = {
  hello: {
    params: z
      .object({ version: z.string().min(1).max(64), protocol: z.number().int().min(0).max(1_000_000) })
      .strict(),
    /**
     * Not strict: a helper of another protocol version must still be able to say which it is.
     * hostsPath is the file whose managed section the helper writes (shown in `status`).
     */
    result: z.object({
      version: z.string().max(64),
      protocol: z.number().int(),
      hostsPath: z.string().max(4096).optional(),
      /** The interface and subnet this helper serves (fixed by root); absent from older helpers. */
      network: z.object({ name: z.string().max(64), subnet: z.string().max(64) }).optional(),
    }),
  },
  ensureInterface: {
    params: z.object({ name: z.string().max(64), subnet: z.string().max(64) }).strict(),
    result: z.object({ name: z.string(), kind: z.enum(INTERFACE_KINDS), subnet: z.string() }).strict(),
  },
  setAddresses: {
    params: z.object({ ips: z.array(ipText).max(MAX_ADDRESSES) }).strict(),
    result: z.object({}).strict(),
  },
  setHosts: {
    params: z
      .object({
        entries: z
          .array(z.object({ ip: ipText, hostname: z.string().max(253) }).strict())
          .max(MAX_HOSTS_ENTRIES),
      })
      .strict(),
    result: z.object({ changed: z.boolean() }).strict(),
  },
  /** The reply carries the listening socket as one SCM_RIGHTS file descriptor. */
  listen: {
    params: z.object({ ip: ipText, port: z.number().int().min(1).max(65535) }).strict(),
    result: z.object({ port: z.number().int().min(1).max(65535) }).strict(),
  },
  teardown: {
    params: z.object({}).strict(),
    result: z.object({}).strict(),
  },
  /**
   * Read-only: what on this machine overlaps the helper's subnet now (null: nothing). Only for the
   * pinned interface and subnet, and only from the controlling connection, like every other change.
   */
  checkNetwork: {
    params: z.object({ name: z.string().max(64), subnet: z.string().max(64) }).strict(),
    result: z
      .object({
        conflict: z
          .object({
            code: z.literal('SUBNET_CONFLICT'),
            message: z.string().max(4096),
            fix: z.string().max(4096),
          })
          .strict()
          .nullable(),
      })
      .strict(),
  },
} as const;

export type HelperMethod = keyof typeof helperMethods;
export type HelperParams<M extends HelperMethod> = z.infer<(typeof helperMethods)[M]['params']>;
export type HelperResult<M extends HelperMethod> = z.infer<(typeof helperMethods)[M]['result']>;

/** The ensureInterface result is exactly the shared InterfaceInfo. */
export type EnsureInterfaceResult = HelperResult<'ensureInterface'> & InterfaceInfo;

export function isHelperMethod(name: unknown): name is HelperMethod {
  return typeof name === 'string' && Object.hasOwn(helperMethods, name);
}

export type HelperRequest = {
  [M in HelperMethod]: { id: number; method: M; params: HelperParams<M> };
}[HelperMethod];

export type HelperResponse =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: UserFacingError };

const envelope = z
  .object({
    id: z.number().int().min(0).max(MAX_REQUEST_ID),
    method: z.string().max(64),
    params: z.unknown(),
  })
  .strict();

const responseEnvelope = z.discriminatedUnion('ok', [
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }).strict(),
  z
    .object({
      id: z.number().int(),
      ok: z.literal(false),
      error: z
        .object({
          code: z.string(),
          message: z.string(),
          fix: z.string(),
          ngrokCode: z.string().optional(),
          at: z.string().optional(),
        })
        .strict(),
    })
    .strict(),
]);

export function protocolError(message: string): NgrokdError {
  return new NgrokdError(
    'PROTOCOL_ERROR',
    `helper protocol: ${message}`,
    'Make sure the app and the privileged helper come from the same release (`npm run ngrokd -- helper install`).',
  );
}

function issuesText(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'value'}: ${issue.message}`)
    .join('; ');
}

/** One frame: length prefix + JSON. Throws PROTOCOL_ERROR when the message exceeds the cap. */
export function encodeFrame(message: object): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  if (json.length > MAX_FRAME_BYTES) {
    throw protocolError(`message of ${json.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte frame limit`);
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + json.length);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Splits a byte stream into frame payloads; an oversize length throws and the caller must close. */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The largest frame accepted now: the helper keeps it small until a client said hello. */
  limit: number;

  constructor(limit: number = MAX_FRAME_BYTES) {
    this.limit = limit;
  }

  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const payloads: Buffer[] = [];
    for (;;) {
      if (this.#buffered < FRAME_HEADER_BYTES) return payloads;
      const pending = this.#flatten();
      const length = pending.readUInt32BE(0);
      if (length > this.limit) {
        throw protocolError(`frame of ${length} bytes exceeds the ${this.limit}-byte limit`);
      }
      if (pending.length < FRAME_HEADER_BYTES + length) return payloads;
      payloads.push(pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length));
      const rest = pending.subarray(FRAME_HEADER_BYTES + length);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
    }
  }

  /** Bytes received but not yet part of a complete frame. */
  get buffered(): number {
    return this.#buffered;
  }

  #flatten(): Buffer {
    if (this.#chunks.length !== 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] as Buffer;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(payload: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw protocolError('frame is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw protocolError('frame is not valid JSON');
  }
}

export type DecodedRequest =
  { ok: true; request: HelperRequest } | { ok: false; id: number; error: NgrokdError };

/** Validate one request frame. Never throws: a bad request becomes an error to send back. */
export function decodeRequest(payload: Buffer): DecodedRequest {
  let id = 0;
  try {
    const raw = parseJson(payload);
    const parsed = envelope.safeParse(raw);
    if (!parsed.success) {
      const rawId = (raw as { id?: unknown } | null)?.id;
      if (typeof rawId === 'number' && Number.isInteger(rawId) && rawId >= 0 && rawId <= MAX_REQUEST_ID)
        id = rawId;
      throw protocolError(`invalid request envelope: ${issuesText(parsed.error)}`);
    }
    id = parsed.data.id;
    const method = parsed.data.method;
    if (!isHelperMethod(method)) {
      throw protocolError(
        `unknown method ${JSON.stringify(method)} (allowed: ${Object.keys(helperMethods).join(', ')})`,
      );
    }
    const params = helperMethods[method].params.safeParse(parsed.data.params ?? {});
    if (!params.success) throw protocolError(`invalid params for ${method}: ${issuesText(params.error)}`);
    return { ok: true, request: { id, method, params: params.data } as HelperRequest };
  } catch (err) {
    return { ok: false, id, error: err instanceof NgrokdError ? err : protocolError(String(err)) };
  }
}

/** Validate one response frame (the helper may be another release). Throws PROTOCOL_ERROR. */
export function decodeResponse(payload: Buffer): HelperResponse {
  const parsed = responseEnvelope.safeParse(parseJson(payload));
  if (!parsed.success) throw protocolError(`invalid response: ${issuesText(parsed.error)}`);
  const response = parsed.data;
  if (response.ok) return response;
  const { code, ...rest } = response.error;
  const known = Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'HELPER_ERROR';
  return { id: response.id, ok: false, error: { code: known, ...rest } };
}

/** The typed result of `method`, or PROTOCOL_ERROR when the helper sent something else. */
export function decodeResult<M extends HelperMethod>(method: M, result: unknown): HelperResult<M> {
  const parsed = helperMethods[method].result.safeParse(result);
  if (!parsed.success) throw protocolError(`invalid ${method} result: ${issuesText(parsed.error)}`);
  return parsed.data as HelperResult<M>;
}

/** An error reply turned back into the NgrokdError the helper threw. */
export function errorFromReply(error: UserFacingError): NgrokdError {
  return new NgrokdError(
    error.code,
    error.message,
    error.fix,
    error.ngrokCode === undefined ? undefined : { ngrokCode: error.ngrokCode },
  );
}
