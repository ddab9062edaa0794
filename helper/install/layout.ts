/**
 * Where the installed helper lives on each platform, and the command line it runs with. Every path
 * here is absolute on the real system; the installer resolves them under its root directory (a temp
 * dir in tests). One version directory per release makes an upgrade a switch, not an overwrite of
 * files the running helper is executing.
 *
 * Inside a version directory:
 *   bin/node             the Node runtime (a copy: the helper never runs code a user can modify)
 *   app/helper/**        the helper's TypeScript, run by Node's type stripping (not helper/client/,
 *                        the app's side of the protocol)
 *   app/main/common/**   the shared protocol types and validators it imports
 *   app/main/system/**   the OS code it runs (interface, hosts file, sockets)
 *   app/node_modules/**  the packages those import (koffi with its native binary, zod…)
 *   app/package.json     generated: marks app/ as ESM and carries the version main.ts reports
 */
import { NgrokdError } from '../../main/common/errors.ts';
import { defaultHelperSocketPath } from '../protocol.ts';
import type { CommandArgv } from '../../main/system/run-command.ts';

export type HelperPlatform = 'linux' | 'darwin';

/** launchd label and macOS file names. */
export const HELPER_LABEL = 'dev.ngrokd.helper';
/** systemd unit name. */
export const HELPER_UNIT = 'ngrokd-helper.service';

export const RUNTIME_FILE = 'bin/node';
export const APP_DIR = 'app';
/** The helper's entry point, relative to APP_DIR. */
export const HELPER_ENTRY = 'helper/main.ts';
export const MANIFEST_FILE = 'manifest.json';

/** app/package.json: helper/main.ts imports it for its version; nothing else of the app's is needed. */
export function appPackageJson(version: string): string {
  const pkg = { name: 'ngrokd-helper', version: validateVersion(version), private: true, type: 'module' };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

export interface HelperLayout {
  readonly platform: HelperPlatform;
  /** Root-owned directory holding the manifest and one subdirectory per installed version. */
  readonly baseDir: string;
  readonly manifestPath: string;
  /** The systemd unit or the launchd plist. */
  readonly serviceFile: string;
  /** Service-manager name: the unit name or the launchd label. */
  readonly serviceName: string;
  readonly socketPath: string;
  /** Log file launchd writes for us (null on Linux: the journal). Removed on uninstall. */
  readonly logFile: string | null;
}

export function helperLayout(platform: HelperPlatform): HelperLayout {
  if (platform === 'darwin') {
    const baseDir = `/Library/PrivilegedHelperTools/${HELPER_LABEL}`;
    return {
      platform,
      baseDir,
      manifestPath: `${baseDir}/${MANIFEST_FILE}`,
      serviceFile: `/Library/LaunchDaemons/${HELPER_LABEL}.plist`,
      serviceName: HELPER_LABEL,
      socketPath: defaultHelperSocketPath('darwin'),
      logFile: '/Library/Logs/ngrokd-helper.log',
    };
  }
  // /usr/local/lib, not /opt: it is root-owned on every mainstream distribution and outside the
  // package manager's files.
  const baseDir = '/usr/local/lib/ngrokd-helper';
  return {
    platform,
    baseDir,
    manifestPath: `${baseDir}/${MANIFEST_FILE}`,
    serviceFile: `/etc/systemd/system/${HELPER_UNIT}`,
    serviceName: HELPER_UNIT,
    socketPath: defaultHelperSocketPath('linux'),
    logFile: null,
  };
}

/** The platform the helper can be installed on, or HELPER_ERROR naming the one it cannot. */
export function toHelperPlatform(platform: string): HelperPlatform {
  if (platform === 'linux' || platform === 'darwin') return platform;
  throw new NgrokdError(
    'HELPER_ERROR',
    `the privileged helper cannot be installed on platform ${JSON.stringify(platform)}`,
    'Use user mode (`ngrokd daemon --user-mode`); the helper supports Linux (systemd) and macOS (launchd).',
  );
}

/** Semver-like, and safe as a directory name and inside a unit file (no `/`, `%`, spaces or quotes). */
const VERSION = /^[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.-]{1,40})?$/;

export function validateVersion(version: string): string {
  if (VERSION.test(version) && !version.includes('..')) return version;
  throw new NgrokdError(
    'HELPER_ERROR',
    `helper version ${JSON.stringify(version)} is not a version such as 0.1.0`,
    'Pass the app version from package.json (MAJOR.MINOR.PATCH with an optional -prerelease).',
  );
}

/** A user id the helper may serve: a non-negative 32-bit integer other than (uid_t)-1. */
export function validateUid(uid: number): number {
  if (Number.isInteger(uid) && uid >= 0 && uid < 0xffffffff) return uid;
  throw new NgrokdError(
    'HELPER_ERROR',
    `user id ${JSON.stringify(uid)} is not a valid uid`,
    'Pass the numeric uid of the user who runs the app (`id -u`).',
  );
}

export function versionDir(layout: HelperLayout, version: string): string {
  return `${layout.baseDir}/${validateVersion(version)}`;
}

export function runtimePath(layout: HelperLayout, version: string): string {
  return `${versionDir(layout, version)}/${RUNTIME_FILE}`;
}

export function entryPath(layout: HelperLayout, version: string): string {
  return `${versionDir(layout, version)}/${APP_DIR}/${HELPER_ENTRY}`;
}

/**
 * The service's command line (options of helper/main.ts). The allowed uid and the socket travel as
 * arguments; the version is the one in the installed app/package.json, which main.ts reports in its
 * hello reply, and it is part of every path on this line.
 */
export function helperArgv(layout: HelperLayout, version: string, uid: number): CommandArgv {
  return [
    runtimePath(layout, version),
    entryPath(layout, version),
    '--socket',
    layout.socketPath,
    '--allowed-uid',
    String(validateUid(uid)),
  ];
}

/**
 * Run once at uninstall, after the service has stopped (its SIGTERM handler already removed the
 * hosts section and the addresses): removes the interface too, and cleans up after a helper that
 * was not running. helper/main.ts must implement this flag.
 */
export const TEARDOWN_FLAG = '--teardown';

export function teardownArgv(layout: HelperLayout, version: string): CommandArgv {
  return [runtimePath(layout, version), entryPath(layout, version), TEARDOWN_FLAG];
}
