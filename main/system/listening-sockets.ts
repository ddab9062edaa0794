/**
 * Which TCP sockets listen on this machine, and whether each is this process's: what `doctor`
 * needs to say "something else listens on 10.107.0.3:80". Read-only and unprivileged.
 *  - Linux: /proc/net/tcp and /proc/net/tcp6 (state 0A = LISTEN) give address, port and socket
 *    inode; a socket is ours when one of /proc/self/fd links to `socket:[inode]` (sockets the
 *    helper opened and passed over are ours too, since this process holds them). The owner of
 *    another one is looked up in /proc/<pid>/fd when readable (root sees all).
 *  - macOS: `lsof -nP -iTCP -sTCP:LISTEN -F pn` (pid and name fields).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, type CommandRunner } from './run-command.ts';

export interface ListeningSocket {
  /** IPv4 dotted quad, an IPv6 address, `0.0.0.0` or `::` for a wildcard. */
  ip: string;
  port: number;
  /** Held by this process. */
  ours: boolean;
  /** The process holding it, when known. */
  pid: number | null;
}

/** Stop looking for owners after this many processes (a busy machine must not stall doctor). */
const MAX_PROCESSES_SCANNED = 4096;

/** `0100007F:0050` (little-endian IPv4 in /proc/net/tcp) or its 32-hex-digit IPv6 form. */
export function parseProcAddress(field: string): { ip: string; port: number } | null {
  const [hex, portHex] = field.split(':');
  if (hex === undefined || portHex === undefined || !/^[0-9A-F]+$/i.test(portHex)) return null;
  const port = Number.parseInt(portHex, 16);
  if (hex.length === 8) {
    const bytes = hex.match(/../g)?.map((b) => Number.parseInt(b, 16)) ?? [];
    return { ip: bytes.reverse().join('.'), port };
  }
  if (hex.length !== 32) return null;
  // Four 32-bit words, each in host (little-endian) order.
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)));
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return { ip: bytes.slice(12).join('.'), port }; // IPv4-mapped
  if (bytes.every((b) => b === 0)) return { ip: '::', port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return { ip: groups.join(':'), port };
}

/** The LISTEN rows of a /proc/net/tcp{,6} text: address, port and inode. */
export function parseProcNetTcp(text: string): { ip: string; port: number; inode: string }[] {
  const rows: { ip: string; port: number; inode: string }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10 || cols[3] !== '0A') continue;
    const address = parseProcAddress(cols[1] ?? '');
    if (address !== null) rows.push({ ...address, inode: cols[9] ?? '' });
  }
  return rows;
}

function socketInodes(fdDir: string): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(fdDir);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(join(fdDir, fd)));
      if (match?.[1] !== undefined) inodes.add(match[1]);
    } catch {
      // closed meanwhile, or not ours to read
    }
  }
  return inodes;
}

function linuxListeners(needOwner: (ip: string) => boolean): ListeningSocket[] | null {
  const tables = ['/proc/net/tcp', '/proc/net/tcp6'].map((file) => {
    try {
      return parseProcNetTcp(readFileSync(file, 'latin1'));
    } catch {
      return null;
    }
  });
  // Neither table readable: "cannot tell", not "nothing listens".
  if (tables.every((t) => t === null)) return null;
  const rows = tables.flatMap((t) => t ?? []);
  const own = socketInodes('/proc/self/fd');
  // Owners are looked up (a walk of /proc) only for the sockets the caller cares about.
  const foreign = rows.filter((r) => !own.has(r.inode) && needOwner(r.ip));
  const owners = new Map<string, number>();
  if (foreign.length > 0) {
    const wanted = new Set(foreign.map((r) => r.inode));
    let pids: string[] = [];
    try {
      pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
    } catch {
      // no /proc listing: owners stay unknown
    }
    for (const pid of pids.slice(0, MAX_PROCESSES_SCANNED)) {
      for (const inode of socketInodes(join('/proc', pid, 'fd')))
        if (wanted.has(inode)) owners.set(inode, Number(pid));
      if (owners.size === wanted.size) break;
    }
  }
  return rows.map((r) => ({
    ip: r.ip,
    port: r.port,
    ours: own.has(r.inode),
    pid: own.has(r.inode) ? process.pid : (owners.get(r.inode) ?? null),
  }));
}

/** `lsof -F pn` output: `p<pid>` starts a process, each `n<address>:<port>` is one of its sockets. */
export function parseLsofListeners(text: string, ownPid: number): ListeningSocket[] {
  const found: ListeningSocket[] = [];
  let pid: number | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('p')) pid = Number(line.slice(1));
    else if (line.startsWith('n')) {
      const match = /^n(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(line);
      if (match === null) continue;
      const raw = match[1] ?? match[2] ?? '';
      const ip = raw === '*' ? (match[1] === undefined ? '0.0.0.0' : '::') : raw;
      found.push({ ip, port: Number(match[3]), ours: pid === ownPid, pid });
    }
  }
  return found;
}

/**
 * The TCP sockets listening on this machine, or null where this platform cannot tell.
 * `run` is for tests (macOS's lsof); `needOwner` limits the (Linux) owner lookup to those addresses.
 */
export async function listeningSockets(
  platform: NodeJS.Platform = process.platform,
  run: CommandRunner = runCommand,
  needOwner: (ip: string) => boolean = () => true,
): Promise<ListeningSocket[] | null> {
  if (platform === 'linux') return linuxListeners(needOwner);
  if (platform === 'darwin') {
    try {
      const { stdout } = await run(['/usr/sbin/lsof', '-nP', '-iTCP', '-sTCP:LISTEN', '-F', 'pn']);
      return parseLsofListeners(stdout, process.pid);
    } catch {
      return null;
    }
  }
  return null;
}
