/**
 * The ngrokd-managed section of the hosts file. Declarative: setHosts() makes the section contain
 * exactly the given lines. Every byte outside the section is preserved (line endings, a missing final
 * newline, comments, non-UTF-8 bytes), which is why the file is handled as latin1: one char per byte.
 * A damaged section is refused, never "repaired" by deleting lines the user may own.
 */
import { open, readFile, stat, appendFile, type FileHandle } from 'node:fs/promises';
import { assertHostname } from '../common/endpoint-url.ts';
import { DEFAULT_INTERFACE } from '../common/defaults.ts';
import { errorCode, NgrokdError } from '../common/errors.ts';
import type { HostsEntry } from '../common/privileged.ts';
import { contains, ipToInt, parseCidr, type Subnet } from '../common/subnet.ts';
import { writeFileAtomic, type AtomicWriteFs } from './atomic-write.ts';
import { needsInPlaceWrite, recoverInPlaceWrite, writeInPlace } from './in-place-write.ts';
import { validateInterfaceName } from '../common/interface-name.ts';

/** Any instance's marker, so a section nested in ours is detected. */
const ANY_MARKER = /^# (?:BEGIN|END) ngrokd managed section(?: \(.*\))?$/;

export interface HostsSectionOptions {
  path: string;
  /** A non-default name suffixes the markers so several instances never touch each other's sections. */
  interfaceName: string;
  /** Every IP written must lie in this CIDR. */
  subnet: string;
  /**
   * A directory of ours (0700) for the journal of in-place rewrites, needed when the file cannot be
   * replaced by rename (a bind mount in a container, a read-only /etc): without it such a file is
   * refused with HOSTS_FILE_WRITE.
   */
  journalDir?: string;
  /**
   * How often the file is checked for edits while a section is published (a stat each time); a
   * deleted or damaged section is written again. 0 turns it off. Default 2000.
   */
  watchIntervalMs?: number;
  fs?: AtomicWriteFs;
}

/** How many times a write is redone because the file changed while it was being merged. */
const MAX_MERGE_ATTEMPTS = 5;
const DEFAULT_WATCH_INTERVAL_MS = 2000;

interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

/** The file as read for one merge: its text, and an open handle on that inode (null if missing). */
interface ReadState {
  text: string;
  bytes: number;
  handle: FileHandle | null;
}

interface Line {
  start: number;
  /** End of the content, before the terminator. */
  contentEnd: number;
  /** Start of the next line. */
  next: number;
  text: string;
}

/** Where our section is in the file, or null when it has none. */
interface Found {
  lines: Line[];
  begin: number;
  end: number;
}

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    if (newline === -1) {
      lines.push({ start, contentEnd: text.length, next: text.length, text: text.slice(start) });
      break;
    }
    const contentEnd = newline > start && text[newline - 1] === '\r' ? newline - 1 : newline;
    lines.push({ start, contentEnd, next: newline + 1, text: text.slice(start, contentEnd) });
    start = newline + 1;
  }
  return lines;
}

function dominantEol(text: string): string {
  const crlf = text.split('\r\n').length - 1;
  const lf = text.split('\n').length - 1;
  return crlf > lf - crlf ? '\r\n' : '\n';
}

export class HostsSection {
  readonly path: string;
  readonly beginMarker: string;
  readonly endMarker: string;
  readonly #subnet: Subnet;
  readonly #fs: AtomicWriteFs | undefined;
  readonly #journalDir: string | undefined;
  readonly #watchIntervalMs: number;
  /** Serialises writes from one process. */
  #queue: Promise<unknown> = Promise.resolve();
  #recovered = false;
  /** The lines last published (null: no section), re-asserted when the file drifts. */
  #wanted: string[] | null = null;
  /** The file as it was right after our last look: any other change is an edit. */
  #known: FileIdentity | null = null;
  #watch: NodeJS.Timeout | undefined;

  constructor(options: HostsSectionOptions) {
    validateInterfaceName(options.interfaceName);
    const suffix = options.interfaceName === DEFAULT_INTERFACE ? '' : ` (${options.interfaceName})`;
    this.path = options.path;
    this.beginMarker = `# BEGIN ngrokd managed section${suffix}`;
    this.endMarker = `# END ngrokd managed section${suffix}`;
    this.#subnet = parseCidr(options.subnet);
    this.#fs = options.fs;
    this.#journalDir = options.journalDir;
    this.#watchIntervalMs = options.watchIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
  }

  /** Stop watching the file (the section stays as it is). */
  close(): void {
    clearInterval(this.#watch);
    this.#watch = undefined;
  }

  /** The entries currently in the section (empty when there is none). */
  async read(): Promise<HostsEntry[]> {
    const text = await this.#readText();
    const found = this.#locate(text);
    if (found === null) return [];
    const entries: HostsEntry[] = [];
    for (const line of found.lines.slice(found.begin + 1, found.end)) {
      const [ip, ...hostnames] = line.text.replace(/#.*/, '').trim().split(/\s+/);
      if (ip === undefined || ip === '') continue;
      for (const hostname of hostnames) entries.push({ ip, hostname });
    }
    return entries;
  }

  /** Make the section hold exactly these entries (none: remove it). No write when nothing changes. */
  async setHosts(entries: readonly HostsEntry[]): Promise<{ changed: boolean }> {
    const lines = this.#validate(entries);
    const run = this.#queue.then(() => this.#converge(lines));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  remove(): Promise<{ changed: boolean }> {
    return this.setHosts([]);
  }

  /** Re-publish the section when the file changed under us (a user deleted or edited it). */
  #watchFile(): void {
    if (this.#watchIntervalMs <= 0 || this.#watch !== undefined) return;
    this.#watch = setInterval(() => {
      void this.#identity().then((now) => {
        if (this.#wanted === null || sameIdentity(now, this.#known)) return;
        const wanted = this.#wanted;
        const run = this.#queue.then(() => this.#converge(wanted));
        // A section the user broke stays refused; the next tick tries again.
        this.#queue = run.catch(() => undefined);
      });
    }, this.#watchIntervalMs);
    this.#watch.unref();
  }

  async #identity(): Promise<FileIdentity | null> {
    try {
      const info = await stat(this.path);
      return { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs };
    } catch {
      return null;
    }
  }

  /** `<ip> <hostname>` lines sorted by hostname, after checking every value. */
  #validate(entries: readonly HostsEntry[]): string[] {
    const byHostname = new Map<string, string>();
    for (const entry of entries) {
      const hostname = assertHostname(entry.hostname, 'hosts entry hostname');
      const ip = entry.ip;
      ipToInt(ip, `hosts entry IP for ${hostname}:`);
      if (!contains(this.#subnet, ip)) {
        throw new NgrokdError(
          'SUBNET_INVALID',
          `hosts entry IP ${ip} for ${hostname} is outside the subnet ${this.#subnet.cidr}`,
          'Only addresses from the ngrokd subnet may be written to the hosts file; check net.subnet.',
        );
      }
      const previous = byHostname.get(hostname);
      if (previous !== undefined && previous !== ip) {
        throw new NgrokdError(
          'HOSTNAME_INVALID',
          `hostname ${hostname} is listed twice with different IPs (${previous} and ${ip})`,
          'Give each hostname exactly one address.',
        );
      }
      byHostname.set(hostname, ip);
    }
    return [...byHostname]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([hostname, ip]) => `${ip} ${hostname}`);
  }

  /**
   * Merge our section into the file as it is now. The file is read again right before it is
   * replaced, and the merge redone when it changed meanwhile; lines appended to the old file in the
   * instant between that check and the rename are copied over from the old inode afterwards.
   */
  async #converge(entryLines: string[]): Promise<{ changed: boolean }> {
    await this.#recover();
    try {
      for (let attempt = 1; ; attempt++) {
        const before = await this.#readState();
        try {
          const next = this.#render(before.text, entryLines);
          if (next === before.text) return { changed: false };
          if (attempt < MAX_MERGE_ATTEMPTS && (await this.#readText()) !== before.text) continue;
          const replaced = await this.#write(Buffer.from(next, 'latin1'));
          if (replaced && before.handle !== null) await this.#carryOverAppends(before);
          return { changed: true };
        } finally {
          await before.handle?.close();
        }
      }
    } finally {
      this.#wanted = entryLines.length > 0 ? entryLines : null;
      this.#known = await this.#identity();
      if (this.#wanted === null) this.close();
      else this.#watchFile();
    }
  }

  /** Replace the file; returns true when it was replaced by rename, false when rewritten in place. */
  async #write(data: Buffer): Promise<boolean> {
    try {
      await writeFileAtomic(this.path, data, {
        mode: 0o644,
        ...(this.#fs === undefined ? {} : { fs: this.#fs }),
      });
      return true;
    } catch (err) {
      if (needsInPlaceWrite(err) && this.#journalDir !== undefined) {
        try {
          await writeInPlace(this.path, data, this.#journalDir);
          return false;
        } catch (inPlace) {
          throw this.#writeError(inPlace);
        }
      }
      throw this.#writeError(err);
    }
  }

  #writeError(err: unknown): NgrokdError {
    const reason = err instanceof Error ? err.message : String(err);
    return new NgrokdError(
      'HOSTS_FILE_WRITE',
      `could not write the hosts file ${this.path}: ${reason}`,
      needsInPlaceWrite(err) && this.#journalDir === undefined
        ? `${this.path} cannot be replaced (a bind mount, or a read-only directory): run ngrokd with a state directory so it can rewrite the file in place; the old file was left unchanged.`
        : 'Check that the disk is not full and that the file and its directory are writable; the old file was left unchanged.',
      { cause: err },
    );
  }

  /** Bytes appended to the old inode after it was read belong to the user: append them to the new file. */
  async #carryOverAppends(before: ReadState): Promise<void> {
    const handle = before.handle as FileHandle;
    const size = (await handle.stat()).size;
    if (size <= before.bytes) return;
    const tail = Buffer.alloc(size - before.bytes);
    await handle.read(tail, 0, tail.length, before.bytes);
    await appendFile(this.path, tail);
  }

  /** Finish an in-place rewrite that a crash interrupted, once per process, before the first read. */
  async #recover(): Promise<void> {
    if (this.#recovered || this.#journalDir === undefined) return;
    await recoverInPlaceWrite(this.path, this.#journalDir);
    this.#recovered = true;
  }

  async #readState(): Promise<ReadState> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return { text: '', bytes: 0, handle: null };
      throw this.#readError(err);
    }
    try {
      const data = await handle.readFile();
      return { text: data.toString('latin1'), bytes: data.length, handle };
    } catch (err) {
      await handle.close();
      throw this.#readError(err);
    }
  }

  /** The whole file with our section replaced by `entryLines` (removed when empty). */
  #render(text: string, entryLines: string[]): string {
    const eol = dominantEol(text);
    const section = [this.beginMarker, ...entryLines, this.endMarker].join(eol);
    const found = this.#locate(text);
    if (found === null) {
      if (entryLines.length === 0) return text;
      if (text === '') return section + eol;
      // A file without a final newline keeps lacking one; removal then restores it exactly.
      return text.endsWith('\n') ? text + section + eol : text + eol + section;
    }
    const first = found.lines[found.begin] as Line;
    const last = found.lines[found.end] as Line;
    const lastTerminated = last.next > last.contentEnd;
    if (entryLines.length > 0) {
      return text.slice(0, first.start) + section + (lastTerminated ? eol : '') + text.slice(last.next);
    }
    if (lastTerminated) return text.slice(0, first.start) + text.slice(last.next);
    // The section ended the file without a final newline: drop the newline we added before it.
    const previous = found.lines[found.begin - 1];
    return previous === undefined ? '' : text.slice(0, previous.contentEnd);
  }

  /** Find our section; throws HOSTS_FILE_BROKEN (with line numbers) for anything but one well-formed section. */
  #locate(text: string): Found | null {
    const lines = splitLines(text);
    let begin = -1;
    let end = -1;
    lines.forEach((line, index) => {
      const marker = line.text.trim();
      if (marker === this.beginMarker) {
        if (begin !== -1)
          throw this.#broken(`"${this.beginMarker}" appears twice, on lines ${begin + 1} and ${index + 1}`);
        begin = index;
      } else if (marker === this.endMarker) {
        if (begin === -1)
          throw this.#broken(`line ${index + 1} has "${this.endMarker}" without a BEGIN before it`);
        if (end !== -1)
          throw this.#broken(`"${this.endMarker}" appears twice, on lines ${end + 1} and ${index + 1}`);
        end = index;
      } else if (ANY_MARKER.test(marker) && begin !== -1 && end === -1) {
        throw this.#broken(
          `line ${index + 1} has "${marker}" nested inside the section starting on line ${begin + 1}`,
        );
      }
    });
    if (begin !== -1 && end === -1)
      throw this.#broken(`line ${begin + 1} has "${this.beginMarker}" but no "${this.endMarker}" follows`);
    return begin === -1 ? null : { lines, begin, end };
  }

  #broken(problem: string): NgrokdError {
    return new NgrokdError(
      'HOSTS_FILE_BROKEN',
      `hosts file ${this.path}: ${problem}`,
      `Edit ${this.path} by hand: keep your own lines, delete the lines from "${this.beginMarker}" to "${this.endMarker}" and any stray marker, then retry (ngrokd rewrites the section).`,
    );
  }

  async #readText(): Promise<string> {
    try {
      return await readFile(this.path, 'latin1');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return '';
      throw this.#readError(err);
    }
  }

  #readError(err: unknown): NgrokdError {
    return new NgrokdError(
      'HOSTS_FILE_WRITE',
      `could not read the hosts file ${this.path}: ${err instanceof Error ? err.message : String(err)}`,
      'Check that the file exists and is readable by ngrokd.',
      { cause: err },
    );
  }
}

function sameIdentity(a: FileIdentity | null, b: FileIdentity | null): boolean {
  return (
    a === b || (a !== null && b !== null && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs)
  );
}
