/**
 * Deltas between versions of the state, the one place they are computed and applied: the engine's
 * state feed shares unchanged parts between the snapshots it takes (`shareUnchanged`) and sends each
 * subscriber the delta from the version it has (`diffState`); every bridge turns the stream back
 * into whole snapshots (`StateReplica`), in which an endpoint that did not change keeps its object
 * and the endpoints array is new only when an endpoint or the set changed, so a UI can memoise on
 * identity. Endpoints are keyed by `url` (unique in a snapshot). Pure: runs in the engine, the
 * preload and the renderer alike.
 */
import type { EndpointView, StateDelta, StateSnapshot, StateUpdate, StatusView } from './contract.ts';

/** Deep equality of JSON values (what snapshots are made of); `undefined` fields count as absent. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const key in x) {
    if (x[key] === undefined) continue;
    keys++;
    if (!sameValue(x[key], y[key])) return false;
  }
  for (const key in y) if (y[key] !== undefined) keys--;
  return keys === 0;
}

function byUrl(endpoints: readonly EndpointView[]): Map<string, EndpointView> {
  return new Map(endpoints.map((e) => [e.url, e]));
}

/**
 * `next` with every part equal to `prev`'s replaced by `prev`'s own object: an unchanged endpoint
 * keeps its identity, the endpoints array too when no endpoint changed and the set and order are
 * the same, the status when it is equal, and `prev` itself is returned when nothing changed.
 */
export function shareUnchanged(prev: StateSnapshot | null, next: StateSnapshot): StateSnapshot {
  if (prev === null || prev === next) return next;
  const status = sameValue(prev.status, next.status) ? prev.status : next.status;
  const old = prev.endpoints;
  const sameSet =
    old.length === next.endpoints.length && next.endpoints.every((e, i) => e.url === old[i]?.url);
  const previous = sameSet ? undefined : byUrl(old);
  let changed = !sameSet;
  const endpoints = next.endpoints.map((e, i) => {
    const before = sameSet ? old[i] : previous?.get(e.url);
    if (before !== undefined && sameValue(before, e)) return before;
    changed = true;
    return e;
  });
  if (!changed && status === prev.status) return prev;
  return { status, endpoints: changed ? endpoints : old };
}

/**
 * What changed from `from` to `to`, or null when nothing did. Parts with the same identity are
 * taken as unchanged without a look (snapshots shared by shareUnchanged); others are compared.
 */
export function diffState(from: StateSnapshot, to: StateSnapshot): StateDelta | null {
  const delta: StateDelta = {};
  if (from.status !== to.status && !sameValue(from.status, to.status)) delta.status = to.status;
  if (from.endpoints !== to.endpoints) {
    const a = from.endpoints;
    const b = to.endpoints;
    const changed: EndpointView[] = [];
    if (a.length === b.length && b.every((e, i) => e.url === a[i]?.url)) {
      for (let i = 0; i < b.length; i++) {
        const e = b[i] as EndpointView;
        if (e !== a[i] && !sameValue(e, a[i])) changed.push(e);
      }
    } else {
      const before = byUrl(a);
      const present = new Set<string>();
      let added = false;
      for (const e of b) {
        present.add(e.url);
        const old = before.get(e.url);
        if (old === undefined) added = true;
        if (old === undefined || (old !== e && !sameValue(old, e))) changed.push(e);
      }
      const removed = a.filter((e) => !present.has(e.url)).map((e) => e.url);
      if (removed.length > 0) delta.removed = removed;
      // Without additions, only a reorder of those that stay needs the order sent.
      const kept = a.filter((e) => present.has(e.url));
      if (added || kept.some((e, i) => e.url !== b[i]?.url)) delta.order = b.map((e) => e.url);
    }
    if (changed.length > 0) delta.endpoints = changed;
  }
  return Object.keys(delta).length === 0 ? null : delta;
}

/** A delta that does not fit the state it is applied to (a bug, or a missed version). */
export class StateDeltaError extends Error {
  override readonly name = 'StateDeltaError';
}

/**
 * `base` with `delta` applied. Endpoints the delta does not name keep their objects; the endpoints
 * array is `base`'s own when no endpoint changed; `base` itself when the delta is empty.
 */
export function applyDelta(base: StateSnapshot, delta: StateDelta): StateSnapshot {
  const status: StatusView = delta.status ?? base.status;
  const changed = byUrl(delta.endpoints ?? []);
  const removed = new Set(delta.removed);
  let endpoints = base.endpoints;
  if (delta.order !== undefined) {
    const before = byUrl(base.endpoints);
    endpoints = delta.order.map((url) => {
      const e = changed.get(url) ?? (removed.has(url) ? undefined : before.get(url));
      if (e === undefined) throw new StateDeltaError(`the delta orders ${url}, which it does not carry`);
      return e;
    });
  } else if (changed.size > 0 || removed.size > 0) {
    let found = 0;
    endpoints = [];
    for (const e of base.endpoints) {
      if (removed.has(e.url)) continue;
      const next = changed.get(e.url);
      if (next !== undefined) found++;
      endpoints.push(next ?? e);
    }
    if (found !== changed.size)
      throw new StateDeltaError('the delta adds endpoints without saying where (no order)');
  }
  if (status === base.status && endpoints === base.endpoints) return base;
  return { status, endpoints };
}

/**
 * One subscriber's copy of the state, kept from a stream of updates: a snapshot replaces it, a
 * delta against the version it holds is applied to it.
 */
export class StateReplica {
  #state: StateSnapshot | null = null;
  #version = -1;

  get state(): StateSnapshot | null {
    return this.#state;
  }

  get version(): number {
    return this.#version;
  }

  /**
   * The state after `update`; null when the update is a delta against a version this replica does
   * not hold (or does not fit it): the subscriber must start again from a snapshot.
   */
  apply(update: StateUpdate): StateSnapshot | null {
    if (update.kind === 'snapshot') {
      this.#state = update.data;
    } else {
      if (this.#state === null || update.base !== this.#version) return this.#reset();
      try {
        this.#state = applyDelta(this.#state, update.data);
      } catch (err) {
        if (err instanceof StateDeltaError) return this.#reset();
        throw err;
      }
    }
    this.#version = update.version;
    return this.#state;
  }

  #reset(): null {
    this.#state = null;
    this.#version = -1;
    return null;
  }
}

/** Subscribe to a transport's updates; returns the unsubscribe function. */
export type UpdateSource<P> = (
  onUpdate: (update: StateUpdate) => void,
  onConnection?: (problem: P) => void,
) => () => void;

/**
 * Whole snapshots from a transport's stream of updates (what a UI wants), through a StateReplica
 * in the caller's own realm. A delta that does not fit starts the subscription again (its first
 * update is a snapshot).
 */
export function followState<P>(
  source: UpdateSource<P>,
  onState: (snapshot: StateSnapshot) => void,
  onConnection?: (problem: P) => void,
): () => void {
  let replica = new StateReplica();
  let active = true;
  let unsubscribe: () => void = () => undefined;
  const start = (): void => {
    const mine = new StateReplica();
    replica = mine;
    unsubscribe = source((update) => {
      if (!active || replica !== mine) return;
      const state = mine.apply(update);
      if (state !== null) onState(state);
      else {
        unsubscribe();
        start();
      }
    }, onConnection);
  };
  start();
  return () => {
    active = false;
    unsubscribe();
  };
}
