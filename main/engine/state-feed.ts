/**
 * The one state feed every bridge subscribes to (the control socket, the browser UI's event stream,
 * the desktop window push, the tray). One clock, running only while someone listens; one snapshot
 * per tick, shared with the previous one where nothing changed (main/common/state-delta.ts), which
 * is what says whether the state changed at all; one throttle rule, each subscriber with its own
 * minimum interval; a subscriber that has not read what it was sent is skipped, not queued, and
 * gets the latest state once it catches up.
 *
 * Every subscriber carries the version of the state it last got. One that asked for deltas gets,
 * after its first snapshot, only what changed since that version (computed once per tick for all
 * who have it); one that is new, or further behind than the feed remembers, gets a whole snapshot.
 * The others (the `state` event, the tray) get whole snapshots every time.
 */
import type { EventData, EventName, StateSnapshot, StateUpdate } from '../common/contract.ts';
import { diffState, shareUnchanged } from '../common/state-delta.ts';

/** What a subscriber receives: a versioned snapshot or delta, and its JSON computed at most once a tick. */
export type StateEvent = StateUpdate & {
  /** `data` serialised: computed on first use, once per tick for every subscriber. */
  readonly json: string;
  /** The whole update (`{"kind":…,"version":…,"data":…}`) serialised, from `json`. */
  readonly updateJson: string;
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
  /**
   * True: after the first snapshot, deltas against the version this subscriber has (a snapshot
   * again when it fell further behind than the feed remembers). False (default): whole snapshots.
   * `tick` subscribers always get snapshots.
   */
  deltas?: boolean;
  /** True while the peer has left what it was sent unread: the tick skips it. */
  backlogged?(): boolean;
}

export interface Subscription {
  /** The state the subscriber starts from; it sends this one itself (a reply, or its stream's first event). */
  initial: SnapshotEvent;
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
/**
 * Versions a delta can be computed from. Each costs an array of the endpoints (their unchanged
 * objects are shared); 16 covers a 1 s subscriber beside a 100 ms one, and a few skipped ticks.
 */
export const DELTA_HISTORY = 16;
/** Timers fire a little early or late: a subscriber due within this much of its interval is due. */
const MAX_TIMER_SLACK_MS = 10;

function stateEvent(update: StateUpdate): StateEvent {
  let json: string | undefined;
  let updateJson: string | undefined;
  const base = update.kind === 'delta' ? `,"base":${update.base}` : '';
  return {
    ...update,
    get json(): string {
      json ??= JSON.stringify(update.data);
      return json;
    },
    get updateJson(): string {
      updateJson ??= `{"kind":"${update.kind}","version":${update.version}${base},"data":${this.json}}`;
      return updateJson;
    },
  };
}

/** A whole snapshot (what `listen` subscribers and the first event of every subscriber get). */
export type SnapshotEvent = StateEvent & { kind: 'snapshot' };

/** A snapshot event whose JSON is computed once, when first asked for. */
export function snapshotEvent(data: StateSnapshot, version = 0): SnapshotEvent {
  return stateEvent({ kind: 'snapshot', version, data }) as SnapshotEvent;
}

/** The update an event carries as a plain object (for structured clone: no getters). */
export function plainUpdate(event: StateEvent): StateUpdate {
  return event.kind === 'snapshot'
    ? { kind: 'snapshot', version: event.version, data: event.data }
    : { kind: 'delta', version: event.version, base: event.base, data: event.data };
}

/** How a transport serves one event of the contract from the feed. */
export interface FeedEventForm<E extends EventName> {
  /** Ask the feed for deltas. */
  deltas: boolean;
  /** The event's data as a plain object (a reply, an IPC message). */
  data(event: StateEvent): EventData<E>;
  /** The event's data serialised (computed once per tick for every stream that sends it). */
  json(event: StateEvent): string;
}

/**
 * The contract's events as the feed serves them, for every transport alike: `state` is each
 * whole snapshot, `stateUpdate` the versioned snapshot then deltas.
 */
export const FEED_EVENTS: { [E in EventName]: FeedEventForm<E> } = {
  state: {
    deltas: false,
    data: (event) => {
      if (event.kind !== 'snapshot') throw new Error('the state event carries snapshots only');
      return event.data;
    },
    json: (event) => event.json,
  },
  stateUpdate: { deltas: true, data: plainUpdate, json: (event) => event.updateJson },
};

interface Entry {
  subscriber: FeedSubscriber;
  /** When it was last sent something (or subscribed). */
  sentAt: number;
  /** The feed's version of the state it last got (-1: none yet). */
  version: number;
}

/** One tick's events, each made (and serialised) at most once whoever gets it. */
class TickEvents {
  readonly #state: StateSnapshot;
  readonly #version: number;
  readonly #history: ReadonlyMap<number, StateSnapshot>;
  #snapshot: SnapshotEvent | undefined;
  readonly #deltas = new Map<number, StateEvent>();

  constructor(state: StateSnapshot, version: number, history: ReadonlyMap<number, StateSnapshot>) {
    this.#state = state;
    this.#version = version;
    this.#history = history;
  }

  snapshot(): SnapshotEvent {
    const event = this.#snapshot ?? snapshotEvent(this.#state, this.#version);
    this.#snapshot = event;
    return event;
  }

  /** The delta from `base` to now, or the snapshot when `base` is forgotten. */
  since(base: number): StateEvent {
    const from = this.#history.get(base);
    if (from === undefined) return this.snapshot();
    let event = this.#deltas.get(base);
    if (event === undefined) {
      // Equal to `base` again (a change undone): an empty delta still moves the version on.
      const data = diffState(from, this.#state) ?? {};
      event = stateEvent({ kind: 'delta', version: this.#version, base, data });
      this.#deltas.set(base, event);
    }
    return event;
  }
}

export class StateFeed {
  readonly #options: StateFeedOptions;
  readonly #now: () => number;
  readonly #entries = new Set<Entry>();
  #timer: NodeJS.Timeout | undefined;
  #period = 0;
  /** The state last taken, its version (bumped whenever it changed) and the recent versions. */
  #state: StateSnapshot | null = null;
  #version = 0;
  readonly #history = new Map<number, StateSnapshot>();

  constructor(options: StateFeedOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The current version of the state (bumped by a snapshot that differs from the last one). */
  get version(): number {
    return this.#version;
  }

  /**
   * Subscribe starting from the state as it is now (taken here: throws what the snapshot throws).
   * The subscriber sends `initial` itself; the feed sends only what comes after it.
   */
  subscribe(subscriber: FeedSubscriber): Subscription {
    const { state, version } = this.#take();
    const initial = snapshotEvent(state, version);
    const entry: Entry = { subscriber, sentAt: this.#now(), version };
    return { initial, unsubscribe: this.#add(entry) };
  }

  /** Subscribe from the next tick on (in-process consumers, which need no first reply): whole snapshots. */
  listen(
    subscriber: Omit<FeedSubscriber, 'send' | 'deltas'> & { send(event: SnapshotEvent): void },
  ): () => void {
    const snapshots: FeedSubscriber = {
      ...subscriber,
      deltas: false,
      send: (e) => subscriber.send(e as SnapshotEvent),
    };
    return this.#add({ subscriber: snapshots, sentAt: Number.NEGATIVE_INFINITY, version: -1 });
  }

  /** Take a snapshot now and send it to every subscriber that is due (also after a command). */
  tick(): void {
    if (this.#entries.size === 0) return;
    let events: TickEvents;
    try {
      const { state, version } = this.#take();
      events = new TickEvents(state, version, this.#history);
    } catch (err) {
      this.#options.onError?.(err);
      return;
    }
    const version = this.#version;
    const now = this.#now();
    const slack = Math.min(MAX_TIMER_SLACK_MS, this.#period / 2);
    for (const entry of [...this.#entries]) {
      const { subscriber } = entry;
      if (!this.#entries.has(entry)) continue; // unsubscribed by an earlier subscriber's send
      if (now - entry.sentAt < (subscriber.minIntervalMs ?? 0) - slack) continue;
      try {
        if (subscriber.backlogged?.() === true) continue;
        const everyTick = subscriber.every === 'tick';
        if (!everyTick && entry.version === version) continue;
        const event =
          everyTick || subscriber.deltas !== true ? events.snapshot() : events.since(entry.version);
        entry.version = version;
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

  /** The state now, sharing what did not change with the last one; a new version when something did. */
  #take(): { state: StateSnapshot; version: number } {
    const state = shareUnchanged(this.#state, this.#options.snapshot());
    if (state !== this.#state) {
      this.#state = state;
      this.#version++;
      this.#history.set(this.#version, state);
      this.#history.delete(this.#version - DELTA_HISTORY);
    }
    return { state, version: this.#version };
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
      // Nobody to compare for: keep no state around (the next subscriber starts from a snapshot).
      this.#state = null;
      this.#history.clear();
      return;
    }
    this.#timer = setInterval(() => this.tick(), period);
    this.#timer.unref();
  }
}
