/**
 * Desktop notifications when endpoints appear or disappear, or a new problem needs the user. Never
 * spam: changes are collected until things are quiet for a few seconds and then told in one
 * notification; the user's own toggle and the first discovery after start are not news; the same
 * problem is told at most once an hour.
 */
import type { EndpointView, StateSnapshot } from '../common/contract.ts';
import type { ErrorCode } from '../common/errors.ts';

export interface NotificationContent {
  title: string;
  body: string;
}

export interface NotifierOptions {
  show(content: NotificationContent): void;
  /** The user's setting, read at the moment of showing. */
  enabled(): boolean;
  now?: () => number;
  /** Quiet time before pending endpoint changes are told. Default 4 s. */
  settleMs?: number;
  /** Longest a change waits while others keep coming. Default 30 s. */
  maxWaitMs?: number;
  /** The same problem code is told again only after this long. Default 1 h. */
  repeatMs?: number;
}

function endpointKey(e: EndpointView): string {
  return `${e.hostname}:${e.port}`;
}

/** "a, b and 3 more" */
export function listNames(names: readonly string[], max = 3): string {
  if (names.length <= max) {
    return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  }
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

export function describeEndpointChanges(
  added: readonly string[],
  removed: readonly string[],
): NotificationContent | null {
  if (added.length === 0 && removed.length === 0) return null;
  const count = (n: number): string => `${n} endpoint${n === 1 ? '' : 's'}`;
  const parts: string[] = [];
  if (added.length > 0) parts.push(`${count(added.length)} added`);
  if (removed.length > 0) parts.push(`${count(removed.length)} removed`);
  const lines: string[] = [];
  if (added.length > 0) lines.push(`Now reachable: ${listNames(added)}`);
  if (removed.length > 0) lines.push(`Gone: ${listNames(removed)}`);
  return { title: `ngrokd: ${parts.join(', ')}`, body: lines.join('\n') };
}

export class Notifier {
  readonly #options: NotifierOptions;
  readonly #now: () => number;
  /** Endpoints as last seen while on and polled; null until the first discovery is the baseline. */
  #known: Map<string, string> | null = null;
  #added = new Map<string, string>();
  #removed = new Map<string, string>();
  #firstPendingAt = 0;
  #lastChangeAt = 0;
  #errorCodes: Set<ErrorCode> | null = null;
  readonly #toldAt = new Map<ErrorCode, number>();

  constructor(options: NotifierOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Feed every snapshot (the state feed calls this on each tick); shows at most one notification. */
  update(snapshot: StateSnapshot): void {
    this.#trackErrors(snapshot);
    this.#trackEndpoints(snapshot);
    this.#flushEndpoints();
  }

  #trackErrors(snapshot: StateSnapshot): void {
    const codes = new Set(snapshot.status.errors.map((e) => e.code));
    const previous = this.#errorCodes;
    this.#errorCodes = codes;
    if (previous === null) return; // what is wrong at start is on screen already
    for (const error of snapshot.status.errors) {
      if (previous.has(error.code)) continue;
      const told = this.#toldAt.get(error.code);
      if (told !== undefined && this.#now() - told < (this.#options.repeatMs ?? 3_600_000)) continue;
      this.#toldAt.set(error.code, this.#now());
      this.#show({ title: `ngrokd needs attention: ${error.message}`, body: error.fix });
      return; // one at a time; another new code is told on a later tick
    }
  }

  #trackEndpoints(snapshot: StateSnapshot): void {
    const { status, endpoints } = snapshot;
    if (!status.enabled || status.last_poll_at === null) {
      // Off (the user's choice) or not discovered yet: the next discovery is a new baseline.
      this.#known = null;
      this.#added.clear();
      this.#removed.clear();
      return;
    }
    const current = new Map(endpoints.map((e) => [endpointKey(e), e.hostname]));
    if (this.#known === null) {
      this.#known = current;
      return;
    }
    let changed = false;
    for (const [key, name] of current) {
      if (this.#known.has(key)) continue;
      if (!this.#removed.delete(key)) this.#added.set(key, name);
      changed = true;
    }
    for (const [key, name] of this.#known) {
      if (current.has(key)) continue;
      if (!this.#added.delete(key)) this.#removed.set(key, name);
      changed = true;
    }
    this.#known = current;
    if (changed) {
      const now = this.#now();
      if (this.#added.size + this.#removed.size > 0 && this.#firstPendingAt === 0) this.#firstPendingAt = now;
      this.#lastChangeAt = now;
    }
  }

  #flushEndpoints(): void {
    if (this.#added.size + this.#removed.size === 0) {
      this.#firstPendingAt = 0;
      return;
    }
    const now = this.#now();
    const settled = now - this.#lastChangeAt >= (this.#options.settleMs ?? 4_000);
    const waitedTooLong = now - this.#firstPendingAt >= (this.#options.maxWaitMs ?? 30_000);
    if (!settled && !waitedTooLong) return;
    const content = describeEndpointChanges([...this.#added.values()], [...this.#removed.values()]);
    this.#added.clear();
    this.#removed.clear();
    this.#firstPendingAt = 0;
    if (content !== null) this.#show(content);
  }

  #show(content: NotificationContent): void {
    if (this.#options.enabled()) this.#options.show(content);
  }
}
