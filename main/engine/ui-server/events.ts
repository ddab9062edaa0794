/**
 * GET /api/events: the state as Server-Sent Events, each stream a subscriber of the engine's state
 * feed: the current state at once, then only when it changed, at most once per interval. The
 * stream names one event of the contract: `?event=stateUpdate` (what the UI reads) sends a
 * versioned snapshot, then deltas against the version the stream has; without it, `event: state`
 * with the whole snapshot each time. A tab that is not reading (suspended, stuck) is skipped, not
 * queued: the next event that gets through carries the latest state (or all that changed) anyway.
 */
import type http from 'node:http';
import { DEFAULT_PUMP_LIMITS } from '../../system/request-pump.ts';
import type { EventName } from '../../common/contract.ts';
import { toUserFacing } from '../../common/errors.ts';
import { FEED_EVENTS, type StateEvent, type StateFeed, type Subscription } from '../state-feed.ts';
import { SECURITY_HEADERS, sendError } from './responses.ts';

function isEventName(name: string): name is EventName {
  return Object.hasOwn(FEED_EVENTS, name);
}

export class EventStreams {
  readonly #feed: StateFeed;
  readonly #intervalMs: number;
  /** Open streams and how each leaves the feed. */
  readonly #streams = new Map<http.ServerResponse, () => void>();

  constructor(feed: StateFeed, intervalMs: number) {
    this.#feed = feed;
    this.#intervalMs = intervalMs;
  }

  serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const name = new URL(req.url ?? '/', 'http://ui').searchParams.get('event') ?? 'state';
    if (!isEventName(name)) {
      sendError(res, 400, {
        code: 'PROTOCOL_ERROR',
        message: `there is no event ${JSON.stringify(name)}`,
        fix: `Ask for one of: ${Object.keys(FEED_EVENTS).join(', ')} (GET /api/events?event=NAME).`,
      });
      return;
    }
    const form = FEED_EVENTS[name];
    const frame = (event: StateEvent): string => `event: ${name}\ndata: ${form.json(event)}\n\n`;
    let subscription: Subscription;
    try {
      subscription = this.#feed.subscribe({
        minIntervalMs: this.#intervalMs,
        deltas: form.deltas,
        backlogged: () => res.writableLength > DEFAULT_PUMP_LIMITS.maxUnreadBytes,
        send: (event) => res.write(frame(event)),
      });
    } catch (err) {
      sendError(res, 503, toUserFacing(err, 'NOT_RUNNING'));
      return;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    res.write(frame(subscription.initial));
    this.#streams.set(res, subscription.unsubscribe);
    req.socket.setTimeout(0);
    res.on('close', () => this.#end(res));
  }

  /** End every stream. */
  close(): void {
    for (const res of [...this.#streams.keys()]) {
      this.#end(res);
      res.end();
    }
  }

  #end(res: http.ServerResponse): void {
    this.#streams.get(res)?.();
    this.#streams.delete(res);
  }
}
