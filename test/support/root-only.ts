/**
 * Root-only tests: skipped with this reason for a contributor running `npm test` as a normal user,
 * but run whenever the process is root or CI=true, so CI can never skip them silently (as a normal
 * user under CI=true they run and fail, naming what they need).
 */
export function rootOnly(why: string): false | string {
  if (process.getuid?.() === 0 || process.env.CI === 'true') return false;
  return `needs root: ${why} (run \`sudo npm test\`)`;
}
