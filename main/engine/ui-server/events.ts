/**
 * GET /api/events: the state as Server-Sent Events (`event: state`), each stream a subscriber of the
 * engine's state feed: the current state at once, then only when it changed, at most once per
 * interval. A tab that is not reading (suspended, stuck) is skipped, not queued: the next event
 * that gets through carries the latest state anyway.
 */
import type http from 'node:http';
import { DEFAULT_PUMP_LIMITS } from '../../system/request-pump.ts';
import { toUserFacing } from '../../common/errors.ts';
import type { StateEvent, StateFeed, Subscription } from '../state-feed.ts';
import { SECURITY_HEADERS, sendError } from './responses.ts';

function frame(event: StateEvent): string {
  return `event: state\ndata: ${event.json}\n\n`;
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
    let subscription: Subscription;
    try {
      subscription = this.#feed.subscribe({
        minIntervalMs: this.#intervalMs,
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
