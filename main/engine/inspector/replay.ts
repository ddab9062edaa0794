/**
 * Replay: send a captured request again through the endpoint's local address, exactly as a client
 * would (so it is forwarded, rewritten and recorded like any other), and answer its new record.
 * Only a request whose body was captured whole can be replayed: sending a guessed body would be a
 * different request. The head goes out as received, including the headers the inspector shows
 * redacted (they are kept unredacted, in memory only, for this), with the body re-framed by
 * Content-Length and `Connection: close`.
 */
import net from 'node:net';
import type { RequestRecord } from '../../common/contract.ts';
import { NgrokdError } from '../../common/errors.ts';
import type { RequestStore } from './store.ts';

/** How long a replay may take from connect to the end of its answer. */
const REPLAY_TIMEOUT_MS = 30_000;

/** Headers the replay sets itself (the body is re-framed, the connection closed after). */
const REFRAMED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/** The head to send: the original request line and headers, re-framed for `bodyLength` bytes. */
export function replayHead(rawHead: Buffer, bodyLength: number): Buffer {
  const lines = rawHead.toString('latin1').split(/\r?\n/);
  // Leading empty lines (allowed before a request line) and the head's final empty lines go.
  while (lines.length > 0 && lines[0] === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const kept = lines.filter((line, i) => {
    if (i === 0) return true;
    const colon = line.indexOf(':');
    return colon <= 0 || !REFRAMED.has(line.slice(0, colon).trim().toLowerCase());
  });
  const method = (kept[0] ?? '').split(' ')[0] ?? '';
  if (bodyLength > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE'].includes(method))
    kept.push(`Content-Length: ${bodyLength}`);
  kept.push('Connection: close');
  return Buffer.from(`${kept.join('\r\n')}\r\n\r\n`, 'latin1');
}

export interface ReplayTarget {
  /** The address the endpoint listens on locally. */
  host: string;
  port: number;
}

function notReplayable(id: number, why: string, fix: string): NgrokdError {
  return new NgrokdError('REPLAY_UNAVAILABLE', `request ${id} cannot be replayed: ${why}`, fix);
}

function unavailable(id: number, why: 'not-found' | 'not-captured'): NgrokdError {
  return why === 'not-found'
    ? notReplayable(
        id,
        'the inspector has no request with that id (it keeps only the most recent ones)',
        'List the requests it has with `npm run ngrokd -- requests`.',
      )
    : notReplayable(
        id,
        'its body was not captured whole, so the request cannot be sent again as it was',
        'Set `inspect.bodies: true` in the config (bodies up to `inspect.max_body_bytes`), restart, and replay a request made after that.',
      );
}

/**
 * Replay request `id` to `target` (found from its record's endpoint URL by the caller) and answer
 * the record of the replay once its answer ended.
 */
export async function replay(
  store: RequestStore,
  id: number,
  target: (record: RequestRecord) => ReplayTarget | null,
): Promise<RequestRecord> {
  const source = store.replaySource(id);
  if (source === 'not-found' || source === 'not-captured') throw unavailable(id, source);
  const to = target(source.record);
  if (to === null)
    throw notReplayable(
      id,
      `its endpoint ${source.record.url} is not listening here now`,
      'Check `npm run ngrokd -- list`: the endpoint must be discovered and enabled.',
    );

  const socket = net.connect({ host: to.host, port: to.port });
  let forget = (): unknown => undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    if (socket.localPort !== undefined) forget = store.expectReplay(socket.localPort, id);
    const after = store.lastId;
    // Written, not ended: a server that takes a half-close for an abort (Node's http.Server does by
    // default) could drop the answer. `Connection: close` makes the server end the exchange, and
    // this socket (no allowHalfOpen) ends with it.
    socket.write(Buffer.concat([replayHead(source.head, source.body.length), source.body]));
    socket.resume(); // the answer is read by the inspector on the way in; here it is drained
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new NgrokdError(
            'REPLAY_FAILED',
            `the replay of request ${id} got no complete answer from ${source.record.url} within ${REPLAY_TIMEOUT_MS / 1000} s`,
            'Check the service behind the endpoint; `npm run ngrokd -- requests` shows what came back.',
          ),
        );
      }, REPLAY_TIMEOUT_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', () => {});
    });
    // A close-delimited answer is recorded when the forwarder sees its connection close, which
    // may come just after ours.
    const find = (): RequestRecord | undefined => store.list({ after }).find((r) => r.replay_of === id);
    let record = find();
    const deadline = Date.now() + 2000;
    while (record === undefined && Date.now() < deadline) {
      await store.listWaiting({ after: store.lastId }, deadline - Date.now());
      record = find();
    }
    if (record === undefined)
      throw new NgrokdError(
        'REPLAY_FAILED',
        `the replay of request ${id} to ${source.record.url} was sent, but no request was recorded for it`,
        'Check that the inspector is on (`inspect.enabled`) and the endpoint is http.',
      );
    return record;
  } catch (err) {
    socket.destroy();
    if (err instanceof NgrokdError) throw err;
    throw new NgrokdError(
      'REPLAY_FAILED',
      `the replay of request ${id} could not connect to ${to.host}:${to.port}: ${(err as Error).message}`,
      'Check `npm run ngrokd -- list`: the endpoint must be listening.',
      { cause: err },
    );
  } finally {
    forget();
  }
}
