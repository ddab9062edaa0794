/** What every answer of the browser-mode server carries, and the JSON bodies it reads and writes. */
import type http from 'node:http';
import type { UserFacingError } from '../../common/errors.ts';
import { CONTENT_SECURITY_POLICY } from '../../common/content-security-policy.ts';

/** Commands are small JSON objects; anything bigger is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;

export const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: http.ServerResponse, status: number, error: UserFacingError): void {
  sendJson(res, status, { error });
}

/** The body as text, or null when it is over the cap (read to the end, so the 413 gets through). */
async function readBody(req: http.IncomingMessage): Promise<string | null> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString('utf8');
}

/**
 * A JSON request body, or undefined after answering with the reason it is not one. Requiring
 * `Content-Type: application/json` means a plain HTML form (or a no-cors fetch) cannot post.
 */
export async function readJson(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  shape: string,
): Promise<Record<string, unknown> | undefined> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
    sendError(res, 415, {
      code: 'PROTOCOL_ERROR',
      message: `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not accepted`,
      fix: `POST a JSON body ${shape} with Content-Type: application/json.`,
    });
    return undefined;
  }
  const body = await readBody(req);
  if (body === null) {
    sendError(res, 413, {
      code: 'PROTOCOL_ERROR',
      message: `request body over ${MAX_BODY_BYTES} bytes`,
      fix: 'Send smaller requests.',
    });
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    sendError(res, 400, {
      code: 'PROTOCOL_ERROR',
      message: 'request body is not a JSON object',
      fix: `POST ${shape}.`,
    });
    return undefined;
  }
  return parsed as Record<string, unknown>;
}
