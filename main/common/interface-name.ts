/**
 * Interface names, checked before any of them reaches the kernel (Linux) or ifconfig (macOS).
 * The rule is the intersection of what both systems accept, so a config valid on one is valid on
 * the other: at most 15 bytes (IFNAMSIZ - 1) of letters, digits, `_`, `.` and `-`.
 */
import { NgrokdError } from './errors.ts';

export const INTERFACE_NAME_MAX_BYTES = 15;

const ALLOWED_CHARACTER = /[A-Za-z0-9_.-]/;
const ALLOWED = `allowed: 1 to ${INTERFACE_NAME_MAX_BYTES} characters from A-Z a-z 0-9 _ . - (not "." or "..")`;

/** Why `name` is not an acceptable interface name, or null when it is. */
export function interfaceNameProblem(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  const bad = [...name].find((ch) => !ALLOWED_CHARACTER.test(ch));
  if (bad !== undefined) return `it contains ${JSON.stringify(bad)}`;
  if (name.length > INTERFACE_NAME_MAX_BYTES) return `it is ${name.length} bytes long`;
  if (name === '.' || name === '..') return 'it is a path component';
  return null;
}

/** Returns `name` unchanged, or throws NgrokdError('CONFIG_INVALID') naming it and what is allowed. */
export function validateInterfaceName(name: string): string {
  const problem = interfaceNameProblem(name);
  if (problem === null) return name;
  throw new NgrokdError(
    'CONFIG_INVALID',
    `net.interface_name ${JSON.stringify(name)} is not a valid interface name: ${problem}; ${ALLOWED}`,
    'Set net.interface_name to a short name such as ngrokd0.',
  );
}
