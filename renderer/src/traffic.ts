/**
 * Traffic rates and sparklines from successive snapshots. Snapshots carry cumulative byte
 * counters; the difference between two goes into the one-second bucket it arrived in (the sender
 * pushes within a second of any change, so an idle gap means no traffic, not slow traffic).
 * Buckets cover the last three minutes; series are created only for endpoints that moved bytes,
 * so 10,000 idle endpoints cost nothing.
 */
import type { EndpointView, StateSnapshot } from '../../main/common/contract.ts';

export const HISTORY_SECONDS = 180;
/** Seconds averaged for the "now" rate: long enough that request-by-request traffic reads as a rate. */
export const RATE_WINDOW = 5;

export interface Rate {
  in: number;
  out: number;
}

class Series {
  readonly #in = new Float64Array(HISTORY_SECONDS);
  readonly #out = new Float64Array(HISTORY_SECONDS);
  /** Absolute second (epoch) of the newest bucket. */
  #newest = -1;

  #advance(second: number): void {
    if (this.#newest < 0 || second - this.#newest >= HISTORY_SECONDS) {
      this.#in.fill(0);
      this.#out.fill(0);
    } else {
      for (let s = this.#newest + 1; s <= second; s++) {
        this.#in[s % HISTORY_SECONDS] = 0;
        this.#out[s % HISTORY_SECONDS] = 0;
      }
    }
    this.#newest = Math.max(this.#newest, second);
  }

  add(second: number, bytesIn: number, bytesOut: number): void {
    this.#advance(second);
    this.#in[second % HISTORY_SECONDS] = (this.#in[second % HISTORY_SECONDS] ?? 0) + bytesIn;
    this.#out[second % HISTORY_SECONDS] = (this.#out[second % HISTORY_SECONDS] ?? 0) + bytesOut;
  }

  /** Sum of the complete seconds in [from, to). */
  sum(from: number, to: number): Rate {
    const total = { in: 0, out: 0 };
    for (let s = Math.max(from, this.#newest - HISTORY_SECONDS + 1); s < to && s <= this.#newest; s++) {
      total.in += this.#in[s % HISTORY_SECONDS] ?? 0;
      total.out += this.#out[s % HISTORY_SECONDS] ?? 0;
    }
    return total;
  }
}

function second(ms: number): number {
  return Math.floor(ms / 1000);
}

/** The counters last seen for one key, and which record() saw them. */
interface Last {
  in: number;
  out: number;
  /** The endpoint object they came from: the same object again means the same counters. */
  view: EndpointView | null;
  seen: number;
}

export class TrafficHistory {
  readonly #last = new Map<string, Last>();
  readonly #series = new Map<string, Series>();
  #seen = false;
  /** Bumped on every record(), so memoised rows know when to redraw. */
  version = 0;

  static readonly TOTAL = '\u0000total';

  /**
   * Take the counters of a snapshot. An endpoint whose object is the one seen last time (a delta
   * that did not touch it) is not looked at again, so a push costs about what changed.
   */
  record(snapshot: StateSnapshot, at: number): void {
    const s = second(at);
    const generation = this.version + 1;
    let present = 0;
    const observe = (key: string, bytesIn: number, bytesOut: number, view: EndpointView | null): void => {
      const last = this.#last.get(key);
      let dIn = bytesIn;
      let dOut = bytesOut;
      if (last === undefined) this.#last.set(key, { in: bytesIn, out: bytesOut, view, seen: generation });
      else {
        if (last.seen === generation) return; // the same key twice
        last.seen = generation;
        if (view !== null && last.view === view) {
          present++;
          return;
        }
        // A counter that went down was reset (listener reopened): all of it is new.
        if (bytesIn >= last.in) dIn = bytesIn - last.in;
        if (bytesOut >= last.out) dOut = bytesOut - last.out;
        Object.assign(last, { in: bytesIn, out: bytesOut, view });
      }
      present++;
      // Unknown before the first snapshot.
      if (!this.#seen || (dIn === 0 && dOut === 0)) return;
      let series = this.#series.get(key);
      if (series === undefined) {
        series = new Series();
        this.#series.set(key, series);
      }
      series.add(s, dIn, dOut);
    };
    for (const e of snapshot.endpoints) observe(e.url, e.bytes_in, e.bytes_out, e);
    observe(TrafficHistory.TOTAL, snapshot.status.totals.bytes_in, snapshot.status.totals.bytes_out, null);
    // Endpoints that are gone take their history with them (looked for only when some are gone).
    if (present < this.#last.size)
      for (const [key, last] of this.#last) {
        if (last.seen === generation) continue;
        this.#last.delete(key);
        this.#series.delete(key);
      }
    this.#seen = true;
    this.version = generation;
  }

  /** Bytes per second over the last few complete seconds. */
  rate(key: string, now: number): Rate {
    const series = this.#series.get(key);
    if (series === undefined) return { in: 0, out: 0 };
    const s = second(now);
    const sum = series.sum(s - RATE_WINDOW, s);
    return { in: sum.in / RATE_WINDOW, out: sum.out / RATE_WINDOW };
  }

  /** `points` averages of in+out bytes per second covering the last three minutes, oldest first. */
  points(key: string, now: number, points = 60): number[] {
    const values = new Array<number>(points).fill(0);
    const series = this.#series.get(key);
    if (series === undefined) return values;
    const width = HISTORY_SECONDS / points;
    const end = second(now);
    for (let i = 0; i < points; i++) {
      const from = end - HISTORY_SECONDS + i * width;
      const sum = series.sum(from, from + width);
      values[i] = (sum.in + sum.out) / width;
    }
    return values;
  }
}
