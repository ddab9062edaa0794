/**
 * One stable IPv4 address per hostname. Mappings persist in `ip_mappings.json` (`{"hostname": "ip"}`,
 * the seed's format) and are kept when an endpoint disappears, so a hostname that comes back gets its
 * old address; they are reclaimed, oldest first, only when the subnet is full. Allocation is O(1)
 * amortised: a byte per address plus a cursor that moves forward.
 */
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../system/atomic-write.ts';
import type { SubnetChoice } from '../common/contract.ts';
import { assertHostname, hostnameProblem } from '../common/endpoint-url.ts';
import { errorCode, NgrokdError, type UserFacingError } from '../common/errors.ts';
import {
  intToIp,
  isReserved,
  parseCidr,
  parseIpv4,
  parsePrivateCidr,
  usableSize,
  type Subnet,
} from '../common/subnet.ts';

/** The mappings file's name in the state directory. */
export const MAPPINGS_FILE = 'ip_mappings.json';

export interface IpamOptions {
  subnet: string;
  /** Path of ip_mappings.json. */
  path: string;
  /** Clock for the name of a corrupt file's copy. */
  now?: () => Date;
}

/** What opening the mappings file found; the engine shows these instead of crashing. */
export interface IpamLoadReport {
  /** One sentence per dropped entry. */
  warnings: string[];
  /** Hostnames moved in from another subnet (0: no remap happened). */
  remapped: number;
  /** Where a corrupt mappings file was moved before starting fresh, or null. */
  corruptCopy: string | null;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export class Ipam {
  readonly subnet: Subnet;
  readonly path: string;
  readonly report: IpamLoadReport = { warnings: [], remapped: 0, corruptCopy: null };
  /** Host offset (ip - network) per hostname; insertion order is age, oldest first. */
  readonly #offsets = new Map<string, number>();
  /** 1 where the offset is taken (reserved addresses included). */
  readonly #used: Uint8Array;
  #free: number;
  #cursor = 0;
  #dirty = false;

  private constructor(subnet: Subnet, path: string) {
    this.subnet = subnet;
    this.path = path;
    this.#used = new Uint8Array(subnet.size);
    for (const reserved of [subnet.network, subnet.gateway, subnet.broadcast])
      this.#used[reserved - subnet.network] = 1;
    this.#free = usableSize(subnet);
  }

  /** Load (or start) the mappings. Bad entries are dropped and listed in `report`, never fatal. */
  static async open(options: IpamOptions): Promise<Ipam> {
    const ipam = new Ipam(parseCidr(options.subnet), options.path);
    const entries = await ipam.#readFile(options.now ?? (() => new Date()));
    if (entries !== null) ipam.#load(entries);
    return ipam;
  }

  /**
   * Make sure every wanted hostname has an address and return the mapping for exactly those.
   * Throws SUBNET_EXHAUSTED (before changing anything) when they cannot all fit.
   */
  assign(hostnames: Iterable<string>): Map<string, string> {
    const wanted = new Set<string>();
    for (const hostname of hostnames) wanted.add(assertHostname(hostname));
    if (wanted.size > usableSize(this.subnet)) {
      throw new NgrokdError(
        'SUBNET_EXHAUSTED',
        `subnet ${this.subnet.cidr} has ${usableSize(this.subnet)} usable addresses but ${wanted.size} endpoints want one`,
        'Choose a larger subnet (net.subnet, e.g. a /16) or bind fewer endpoints with the endpoint selectors.',
      );
    }
    const reclaimable = this.#offsets.keys();
    for (const hostname of wanted) {
      if (this.#offsets.has(hostname)) continue;
      let offset = this.#nextFree();
      while (offset === null) {
        // Full: take the oldest mapping nobody wants now. The size check above guarantees one exists.
        const candidate = reclaimable.next().value as string;
        if (wanted.has(candidate)) continue;
        offset = this.#offsets.get(candidate) as number;
        this.#offsets.delete(candidate);
        this.#used[offset] = 0;
        this.#free += 1;
      }
      this.#place(hostname, offset);
      this.#dirty = true;
    }
    const result = new Map<string, string>();
    for (const hostname of wanted) result.set(hostname, this.#ip(this.#offsets.get(hostname) as number));
    return result;
  }

  lookup(hostname: string): string | undefined {
    const offset = this.#offsets.get(hostname.toLowerCase());
    return offset === undefined ? undefined : this.#ip(offset);
  }

  /** Every mapping, wanted or not, oldest first. */
  mappings(): Map<string, string> {
    return new Map([...this.#offsets].map(([hostname, offset]) => [hostname, this.#ip(offset)]));
  }

  /** Write the file (atomically, mode 0600) if anything changed since it was read or last saved. */
  async save(): Promise<boolean> {
    if (!this.#dirty) return false;
    const json = `${JSON.stringify(Object.fromEntries(this.mappings()), null, 2)}\n`;
    try {
      await writeFileAtomic(this.path, json, { mode: 0o600 });
    } catch (err) {
      throw new NgrokdError(
        'STATE_DIR',
        `could not write the IP mappings ${this.path}: ${err instanceof Error ? err.message : String(err)}`,
        'Check that the state directory exists, is writable and the disk is not full.',
        { cause: err },
      );
    }
    this.#dirty = false;
    return true;
  }

  #ip(offset: number): string {
    return intToIp(this.subnet.network + offset);
  }

  #place(hostname: string, offset: number): void {
    this.#offsets.set(hostname, offset);
    this.#used[offset] = 1;
    this.#free -= 1;
  }

  #nextFree(): number | null {
    if (this.#free === 0) return null;
    while (this.#used[this.#cursor] === 1) this.#cursor = (this.#cursor + 1) % this.subnet.size;
    return this.#cursor;
  }

  /** The file's entries; null when absent or corrupt (a corrupt file is moved aside first). */
  async #readFile(now: () => Date): Promise<[string, unknown][] | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return null;
      throw new NgrokdError(
        'STATE_DIR',
        `could not read the IP mappings ${this.path}: ${err instanceof Error ? err.message : String(err)}`,
        'Check that the state directory and the file are readable by ngrokd.',
        { cause: err },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return Object.entries(parsed);
    const copy = `${this.path}.corrupt-${now().toISOString().replace(/[:.]/g, '-')}`;
    await rename(this.path, copy);
    this.report.corruptCopy = copy;
    this.report.warnings.push(
      `${this.path} is not a JSON object of hostname to IP; moved it to ${copy} and started fresh`,
    );
    return null;
  }

  #load(entries: [string, unknown][]): void {
    const warn = (message: string) => {
      this.report.warnings.push(message);
      this.#dirty = true;
    };
    const seen = new Set<string>();
    const outside: [string, number][] = [];
    for (const [key, value] of entries) {
      const problem = hostnameProblem(key);
      if (problem !== null) {
        warn(`dropped mapping ${show(key)}: not a valid hostname (${problem})`);
        continue;
      }
      const hostname = key.toLowerCase();
      if (seen.has(hostname)) {
        warn(`dropped mapping ${show(key)}: hostname ${hostname} is listed twice`);
        continue;
      }
      seen.add(hostname);
      const ip = typeof value === 'string' ? parseIpv4(value) : null;
      if (ip === null) {
        warn(`dropped mapping ${hostname}: ${show(value)} is not an IPv4 address`);
      } else if (ip < this.subnet.network || ip > this.subnet.broadcast) {
        outside.push([hostname, ip]);
      } else if (isReserved(this.subnet, ip)) {
        warn(`dropped mapping ${hostname}: ${intToIp(ip)} is reserved in ${this.subnet.cidr}`);
      } else if (this.#used[ip - this.subnet.network] === 1) {
        warn(`dropped mapping ${hostname}: ${intToIp(ip)} is already mapped to another hostname`);
      } else {
        this.#place(hostname, ip - this.subnet.network);
      }
    }
    if (outside.length > 0) this.#remap(outside);
  }

  /** Move mappings from another subnet here, keeping each host offset (10.107.3.4 → 127.107.3.4) when free. */
  #remap(outside: [string, number][]): void {
    this.report.remapped = outside.length;
    this.#dirty = true;
    const pending: string[] = [];
    for (const [hostname, ip] of outside) {
      const offset = ip % this.subnet.size;
      if (isReserved(this.subnet, this.subnet.network + offset) || this.#used[offset] === 1)
        pending.push(hostname);
      else this.#place(hostname, offset);
    }
    for (const hostname of pending) {
      const offset = this.#nextFree();
      if (offset === null)
        this.report.warnings.push(`dropped mapping ${hostname}: no room left in ${this.subnet.cidr}`);
      else this.#place(hostname, offset);
    }
  }
}

// --- The subnet itself, when net.subnet is not set --------------------------------------------

/** In the state directory: the subnet a root daemon picked at its first start (see chooseSubnet). */
export const SUBNET_CHOICE_FILE = 'subnet.json';

/** Whether the mappings file holds any mapping (absent, empty or not a JSON object: no). */
export async function hasMappings(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    if (errorCode(err) === 'ENOENT') return '{}';
    throw stateError(`could not read the IP mappings ${path}`, err);
  });
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && Object.keys(parsed).length > 0;
  } catch {
    return false;
  }
}

/** The first of `candidates` that `conflict` finds nothing overlapping, in order; null when all do. */
export async function firstFreeSubnet(
  candidates: readonly string[],
  conflict: (subnet: string) => Promise<UserFacingError | null>,
): Promise<string | null> {
  for (const candidate of candidates) if ((await conflict(candidate)) === null) return candidate;
  return null;
}

export interface SubnetDecision {
  subnet: string;
  /** Set when the subnet is a pick (now or at an earlier start): status shows it. */
  choice: SubnetChoice | null;
  /** Worth a line in the log: a pick made now, a choice file that was not usable. */
  notes: string[];
}

/**
 * The subnet of a root daemon whose net.subnet is not set, stable across starts:
 *  1. the one picked at an earlier start (subnet.json), whatever the network does now;
 *  2. else `fallback` (the default) when nothing overlaps it, or when addresses are mapped already:
 *     they stay where they are, and a conflict refuses the start with its fix;
 *  3. else the first of `candidates` nothing overlaps, saved to subnet.json. None free: `fallback`.
 */
export async function chooseSubnet(options: {
  fallback: string;
  stateDir: string;
  mappingsPath: string;
  candidates: readonly string[];
  conflict: (subnet: string) => Promise<UserFacingError | null>;
  now?: () => Date;
}): Promise<SubnetDecision> {
  const path = join(options.stateDir, SUBNET_CHOICE_FILE);
  const notes: string[] = [];
  const saved = await readSubnetChoice(path, notes);
  if (saved !== null) return { subnet: saved.subnet, choice: saved, notes };
  const keep: SubnetDecision = { subnet: options.fallback, choice: null, notes };
  if (await hasMappings(options.mappingsPath)) return keep;
  const overlap = await options.conflict(options.fallback);
  if (overlap === null) return keep;
  const others = options.candidates.filter((c) => c !== options.fallback);
  const free = await firstFreeSubnet(others, options.conflict);
  if (free === null) return keep;
  const choice: SubnetChoice = {
    subnet: free,
    instead_of: options.fallback,
    reason: overlap.message,
    at: (options.now ?? (() => new Date()))().toISOString(),
    saved_in: path,
  };
  const { saved_in: _, ...stored } = choice;
  try {
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  } catch (err) {
    throw stateError(`could not save the subnet picked (${free}) to ${path}`, err);
  }
  notes.push(`${overlap.message}; net.subnet is not set, so ${free} is used instead (kept in ${path})`);
  return { subnet: free, choice, notes };
}

/** The choice saved at an earlier start, or null (absent; unusable, with a note). */
async function readSubnetChoice(path: string, notes: string[]): Promise<SubnetChoice | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw stateError(`could not read the subnet picked earlier, ${path}`, err);
  }
  try {
    const value = JSON.parse(text) as Partial<Record<keyof SubnetChoice, unknown>>;
    const subnet = parsePrivateCidr(String(value.subnet), `subnet in ${path}`).cidr;
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    return {
      subnet,
      instead_of: str(value.instead_of),
      reason: str(value.reason),
      at: str(value.at),
      saved_in: path,
    };
  } catch (err) {
    notes.push(
      `ignored ${path}: ${err instanceof Error ? err.message : String(err)} (not a subnet picked by ngrokd)`,
    );
    return null;
  }
}

function stateError(what: string, err: unknown): NgrokdError {
  return new NgrokdError(
    'STATE_DIR',
    `${what}: ${err instanceof Error ? err.message : String(err)}`,
    'Check that the state directory exists, is writable by ngrokd and the disk is not full.',
    { cause: err },
  );
}
