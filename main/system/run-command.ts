/**
 * Run a program as an argv array: never through a shell, so no argument can be reinterpreted as
 * shell syntax. The root helper uses this for service managers (systemctl, launchctl) and for the
 * macOS tools (ifconfig, route, dscacheutil) that have no API reachable from Node.
 */
import { execFile } from 'node:child_process';
import { NgrokdError } from '../common/errors.ts';

export type CommandArgv = readonly [string, ...string[]];

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/** Runs argv; tests and dry runs inject their own. */
export type CommandRunner = (argv: CommandArgv) => Promise<CommandOutput>;

/** Generous for systemctl restart; a hung tool must not hang the helper forever. */
const TIMEOUT_MS = 60_000;

export const runCommand: CommandRunner = (argv) => {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(file, args, { shell: false, timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) {
        resolve({ stdout, stderr });
        return;
      }
      const detail = stderr.trim().split('\n').slice(-3).join(' / ') || err.message;
      reject(
        new NgrokdError(
          'HELPER_ERROR',
          `command ${JSON.stringify(argv.join(' '))} failed: ${detail}`,
          'See the helper log; run the command by hand to see the full output.',
          { cause: err },
        ),
      );
    });
  });
};
