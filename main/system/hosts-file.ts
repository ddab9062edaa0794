/**
 * The ngrokd-managed section of the hosts file. Declarative: setHosts() makes the section contain
 * exactly the given lines. Every byte outside the section is preserved (line endings, a missing final
 * newline, comments, non-UTF-8 bytes), which is why the file is handled as latin1: one char per byte.
 * A damaged section is refused, never "repaired" by deleting lines the user may own.
 */
import { readFile } from 'node:fs/promises';
import { assertHostname } from '../common/endpoint-url.ts';
import { DEFAULT_INTERFACE } from '../common/defaults.ts';
import { NgrokdError } from '../common/errors.ts';
import type { HostsEntry } from '../common/privileged.ts';
import { contains, ipToInt, parseCidr, type Subnet } from '../common/subnet.ts';
import { writeFileAtomic, type AtomicWriteFs } from './atomic-write.ts';
import { validateInterfaceName } from '../common/interface-name.ts';

/** Any instance's marker, so a section nested in ours is detected. */
const ANY_MARKER = /^# (?:BEGIN|END) ngrokd managed section(?: \(.*\))?$/;

export interface HostsSectionOptions {
  path: string;
  /** A non-default name suffixes the markers so several instances never touch each other's sections. */
  interfaceName: string;
  /** Every IP written must lie in this CIDR. */
  subnet: string;
  fs?: AtomicWriteFs;
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
  /** Serialises writes from one process. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: HostsSectionOptions) {
    validateInterfaceName(options.interfaceName);
    const suffix = options.interfaceName === DEFAULT_INTERFACE ? '' : ` (${options.interfaceName})`;
    this.path = options.path;
    this.beginMarker = `# BEGIN ngrokd managed section${suffix}`;
    this.endMarker = `# END ngrokd managed section${suffix}`;
    this.#subnet = parseCidr(options.subnet);
    this.#fs = options.fs;
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

  async #converge(entryLines: string[]): Promise<{ changed: boolean }> {
    const text = await this.#readText();
    const next = this.#render(text, entryLines);
    if (next === text) return { changed: false };
    try {
      await writeFileAtomic(this.path, Buffer.from(next, 'latin1'), {
        mode: 0o644,
        ...(this.#fs === undefined ? {} : { fs: this.#fs }),
      });
    } catch (err) {
      throw new NgrokdError(
        'HOSTS_FILE_WRITE',
        `could not write the hosts file ${this.path}: ${err instanceof Error ? err.message : String(err)}`,
        'Check that the disk is not full and that the file and its directory are writable; the old file was left unchanged.',
        { cause: err },
      );
    }
    return { changed: true };
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
      if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return '';
      throw new NgrokdError(
        'HOSTS_FILE_WRITE',
        `could not read the hosts file ${this.path}: ${err instanceof Error ? err.message : String(err)}`,
        'Check that the file exists and is readable by ngrokd.',
        { cause: err },
      );
    }
  }
}
