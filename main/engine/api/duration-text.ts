/**
 * Durations as a user reads them in a message ("15 s", "40 min", "12 days"). Coarse on purpose: a
 * message that says "12 days" changes once a day, so the state feed (which sends a snapshot only
 * when it changed) stays quiet while it is shown.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export function durationText(ms: number): string {
  const value = Math.max(0, ms);
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 2 * MINUTE) return `${Math.floor(value / 1000)} s`;
  if (value < 2 * HOUR) return `${Math.floor(value / MINUTE)} min`;
  if (value < 2 * DAY) return `${Math.floor(value / HOUR)} hours`;
  return `${Math.floor(value / DAY)} days`;
}
