/**
 * The one state feed every bridge subscribes to (the control socket, the browser UI's event stream,
 * the desktop window push, the tray). One clock, running only while someone listens; one snapshot
 * and at most one serialisation per tick, compared once with the previous one; one throttle rule,
 * each subscriber with its own minimum interval; a subscriber that has not read what it was sent is
 * skipped, not queued, and gets the latest state once it catches up.
 *
 * Events are a discriminated union so that a later `{ kind: 'delta', endpoints: [...] }` fits
 * beside the whole snapshot: every subscriber carries the version of the state it last got, which
 * is what a delta would be computed from (and a subscriber too far behind would get a snapshot).
 */
import type { StateSnapshot } from '../common/contract.ts';

/** What a subscriber receives. */
export type StateEvent = {
  kind: 'snapshot';
  data: StateSnapshot;
  /** `data` serialised: computed on first use, once per tick for every subscriber. */
  readonly json: string;
};

export interface FeedSubscriber {
  send(event: StateEvent): void;
  /** At most one event per this many ms; without it, every tick (the feed's own interval). */
  minIntervalMs?: number;
  /**
   * `change` (default): only when the state changed since this subscriber's last event. `tick`: on
   * every tick it is due, changed or not (consumers that follow time, e.g. traffic rates).
   */
  every?: 'change' | 'tick';
  /** True while the peer has left what it was sent unread: the tick skips it. */
  backlogged?(): boolean;
}

export interface Subscription {
  /** The state the subscriber starts from; it sends this one itself (a reply, or its stream's first event). */
  initial: StateEvent;
  unsubscribe(): void;
}

export interface StateFeedOptions {
  snapshot(): StateSnapshot;
  /** The clock when no subscriber asks for a shorter interval. Default 1000 ms. */
  intervalMs?: number;
  /** A tick whose snapshot or subscriber threw (e.g. the engine is restarting). */
  onError?: (err: unknown) => void;
  now?: () => number;
}

export const DEFAULT_FEED_INTERVAL_MS = 1000;
/** Timers fire a little early or late: a subscriber due within this much of its interval is due. */
const MAX_TIMER_SLACK_MS = 10;

/** A snapshot event whose JSON is computed once, when first asked for. */
export function snapshotEvent(data: StateSnapshot): StateEvent {
  let json: string | undefined;
  return {
    kind: 'snapshot',
    data,
    get json(): string {
      json ??= JSON.stringify(data);
      return json;
    },
  };
}

interface Entry {
  subscriber: FeedSubscriber;
  /** When it was last sent something (or subscribed). */
  sentAt: number;
  /** The feed's version of the state it last got. */
  version: number;
}

export class StateFeed {
  readonly #options: StateFeedOptions;
  readonly #now: () => number;
  readonly #entries = new Set<Entry>();
  #timer: NodeJS.Timeout | undefined;
  #period = 0;
  /** The last serialisation and its version, bumped whenever a serialisation differs from it. */
  #json: string | null = null;
  #version = 0;

  constructor(options: StateFeedOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Subscribe starting from the state as it is now (taken here: throws what the snapshot throws).
   * The subscriber sends `initial` itself; the feed sends only what comes after it.
   */
  subscribe(subscriber: FeedSubscriber): Subscription {
    const initial = snapshotEvent(this.#options.snapshot());
    const entry: Entry = { subscriber, sentAt: this.#now(), version: this.#record(initial.json) };
    return { initial, unsubscribe: this.#add(entry) };
  }

  /** Subscribe from the next tick on (in-process consumers, which need no first reply). */
  listen(subscriber: FeedSubscriber): () => void {
    return this.#add({ subscriber, sentAt: Number.NEGATIVE_INFINITY, version: -1 });
  }

  /** Take a snapshot now and send it to every subscriber that is due (also after a command). */
  tick(): void {
    if (this.#entries.size === 0) return;
    let event: StateEvent;
    try {
      event = snapshotEvent(this.#options.snapshot());
    } catch (err) {
      this.#options.onError?.(err);
      return;
    }
    const now = this.#now();
    const slack = Math.min(MAX_TIMER_SLACK_MS, this.#period / 2);
    let version: number | undefined;
    for (const entry of [...this.#entries]) {
      const { subscriber } = entry;
      if (!this.#entries.has(entry)) continue; // unsubscribed by an earlier subscriber's send
      if (now - entry.sentAt < (subscriber.minIntervalMs ?? 0) - slack) continue;
      try {
        if (subscriber.backlogged?.() === true) continue;
        if (subscriber.every !== 'tick') {
          version ??= this.#record(event.json); // one serialisation and one comparison per tick
          if (entry.version === version) continue;
          entry.version = version;
        }
        entry.sentAt = now;
        subscriber.send(event);
      } catch (err) {
        this.#options.onError?.(err);
      }
    }
  }

  /** Drop every subscriber and stop the clock. */
  close(): void {
    this.#entries.clear();
    this.#reschedule();
  }

  /** The version of `json`: the current one when it is what was serialised last, else a new one. */
  #record(json: string): number {
    if (json !== this.#json) {
      this.#json = json;
      this.#version++;
    }
    return this.#version;
  }

  #add(entry: Entry): () => void {
    this.#entries.add(entry);
    this.#reschedule();
    return () => {
      if (this.#entries.delete(entry)) this.#reschedule();
    };
  }

  /** One timer at the shortest interval anyone asked for, only while there are subscribers. */
  #reschedule(): void {
    let period = 0;
    if (this.#entries.size > 0) {
      period = this.#options.intervalMs ?? DEFAULT_FEED_INTERVAL_MS;
      for (const { subscriber } of this.#entries)
        if (subscriber.minIntervalMs !== undefined && subscriber.minIntervalMs > 0)
          period = Math.min(period, subscriber.minIntervalMs);
    }
    if (period === this.#period) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#period = period;
    if (period === 0) {
      this.#json = null; // nobody to compare for: do not keep a big string around
      return;
    }
    this.#timer = setInterval(() => this.tick(), period);
    this.#timer.unref();
  }
}
