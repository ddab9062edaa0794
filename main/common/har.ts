/**
 * Inspected requests as other tools take them: a HAR 1.2 log (http://www.softwareishard.com/blog/har-12-spec/,
 * what browsers' devtools import) and a `curl` command line. Pure functions of the contract's
 * RequestDetail, shared by the CLI (`requests --har`) and the window (Copy as curl).
 * Redacted headers stay redacted: an export never carries a secret the inspector did not keep.
 */
import type { CapturedBody, RequestDetail } from './contract.ts';

export interface HarNameValue {
  name: string;
  value: string;
}

export interface HarContent {
  size: number;
  mimeType: string;
  text?: string;
  encoding?: 'base64';
  comment?: string;
}

export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: { mimeType: string; text: string; params?: HarNameValue[]; comment?: string };
    headersSize: number;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    content: HarContent;
    redirectURL: string;
    headersSize: number;
    bodySize: number;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  connection: string;
  comment?: string;
  /** ngrokd's own fields (HAR allows custom fields starting with an underscore). */
  _ngrokd: { id: number; endpoint: string; kind: RequestDetail['kind']; error: string | null };
}

export interface Har {
  log: {
    version: '1.2';
    creator: { name: string; version: string };
    entries: HarEntry[];
  };
}

/** The request's absolute URL: the endpoint's origin and the target as sent. */
export function requestUrl(r: Pick<RequestDetail, 'url' | 'path' | 'endpoint'>): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(r.path)) return r.path; // absolute-form target
  const origin = r.url.replace(/:80$/, '');
  return `${origin}${r.path.startsWith('/') ? r.path : `/${r.path}`}`;
}

function header(headers: [string, string][], name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

function queryString(url: string): HarNameValue[] {
  try {
    return [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    return [];
  }
}

/** The bytes of a base64 string (atob: in browsers and Node alike, since this module is shared). */
function decodeBase64(base64: string): Uint8Array {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** The bytes as UTF-8 text, or null when they are not text (invalid UTF-8, control characters). */
export function bodyText(base64: string): string | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(decodeBase64(base64));
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000E-\u001F\u007F]/.test(text) ? null : text;
}

function content(body: CapturedBody | null, mimeType: string, size: number): HarContent {
  if (body === null) return { size, mimeType, comment: 'body not captured (inspect.bodies is off)' };
  const kept = decodeBase64(body.base64).length;
  const truncated = body.truncated ? { comment: `truncated to the first ${kept} of ${body.size} bytes` } : {};
  const text = bodyText(body.base64);
  return text !== null
    ? { size: body.size, mimeType, text, ...truncated }
    : { size: body.size, mimeType, text: body.base64, encoding: 'base64', ...truncated };
}

const STATUS_TEXT: Record<number, string> = {
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function cookies(headers: [string, string][], name: string): HarNameValue[] {
  // Cookie and Set-Cookie are always redacted: their names are not kept either.
  return headers
    .filter(([n]) => n.toLowerCase() === name)
    .map(() => ({ name: '[redacted]', value: '[redacted]' }));
}

export function harEntry(r: RequestDetail): HarEntry {
  const url = requestUrl(r);
  const requestBody = r.request_body;
  const requestMime = header(r.request_headers, 'content-type') ?? 'application/octet-stream';
  const responseMime = header(r.response_headers, 'content-type') ?? 'application/octet-stream';
  const time = r.duration_ms ?? 0;
  const entry: HarEntry = {
    startedDateTime: r.ts,
    time,
    request: {
      method: r.method,
      url,
      httpVersion: r.http_version,
      cookies: cookies(r.request_headers, 'cookie'),
      headers: r.request_headers.map(([name, value]) => ({ name, value })),
      queryString: queryString(url),
      headersSize: -1,
      bodySize: requestBody?.size ?? -1,
    },
    response: {
      status: r.status ?? 0,
      statusText: r.status === null ? '' : (STATUS_TEXT[r.status] ?? ''),
      httpVersion: r.http_version,
      cookies: cookies(r.response_headers, 'set-cookie'),
      headers: r.response_headers.map(([name, value]) => ({ name, value })),
      content: content(r.response_body, responseMime, r.response_body?.size ?? 0),
      redirectURL: header(r.response_headers, 'location') ?? '',
      headersSize: -1,
      bodySize: r.response_body?.size ?? -1,
    },
    cache: {},
    // Only the whole duration is measured; HAR wants the phases to add up to `time`.
    timings: { send: 0, wait: time, receive: 0 },
    connection: String(r.connection_id),
    _ngrokd: { id: r.id, endpoint: r.endpoint, kind: r.kind, error: r.error },
  };
  if (requestBody !== null && requestBody.size > 0) {
    const body = content(requestBody, requestMime, requestBody.size);
    entry.request.postData = {
      mimeType: requestMime,
      text: body.text ?? '',
      ...(body.encoding === 'base64' ? { comment: 'base64' } : {}),
    };
  }
  if (r.error !== null) entry.comment = `ngrokd: ${r.error}`;
  return entry;
}

export function toHar(requests: readonly RequestDetail[], version: string): Har {
  return {
    log: { version: '1.2', creator: { name: 'ngrokd', version }, entries: requests.map(harEntry) },
  };
}

/** A POSIX shell word: single-quoted unless it is plainly safe. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Hop-by-hop and framing headers curl sets itself. */
const CURL_SETS = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

/**
 * The request as a curl command: method, URL by hostname (it resolves through the hosts section),
 * headers (redacted ones are left out, with a note to add them), and the body when captured.
 */
export function curlCommand(r: RequestDetail): string {
  const words = ['curl'];
  if (r.method !== 'GET' || (r.request_body?.size ?? 0) > 0) words.push('-X', shellWord(r.method));
  words.push(shellWord(requestUrl(r)));
  const redacted: string[] = [];
  for (const [name, value] of r.request_headers) {
    if (CURL_SETS.has(name.toLowerCase())) continue;
    if (value === '[redacted]') redacted.push(name);
    else words.push('-H', shellWord(`${name}: ${value}`));
  }
  const body = r.request_body;
  if (body !== null && body.size > 0) {
    const text = bodyText(body.base64);
    words.push('--data-binary', text !== null ? shellWord(text) : '@body.bin');
  }
  let command = words.join(' ');
  if (redacted.length > 0) command += `  # redacted, add yourself: ${redacted.join(', ')}`;
  if (body !== null && body.truncated) command += '  # body truncated by the inspector';
  return command;
}
