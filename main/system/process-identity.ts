/**
 * Which process owns something, in a form that survives the owner's death: its pid and, on Linux, its
 * start time (field 22 of /proc/PID/stat), so a pid reused by an unrelated process is not taken for
 * the owner still running.
 */
import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** Clock ticks since boot at which the process started; null where /proc is not available. */
  start: number | null;
}

export function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isSafeInteger(start) ? start : null;
  } catch {
    return null;
  }
}

export function currentProcess(): ProcessIdentity {
  return { pid: process.pid, start: processStart(process.pid) };
}

/** Whether the process `identity` names is still running (and is the same process). */
export function isRunning(identity: ProcessIdentity): boolean {
  try {
    process.kill(identity.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return identity.start === null || processStart(identity.pid) === identity.start;
}
