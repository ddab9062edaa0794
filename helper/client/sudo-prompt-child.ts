/**
 * The OS password prompt, run in a short-lived child process whose working directory is '/'.
 *
 * @vscode/sudo-prompt puts `cd "<process.cwd()>"` in front of the shell command it runs (on Linux
 * in `/bin/sh -c` as the user, on macOS in the script the applet runs as root) and escapes only `"`.
 * A working directory such as `/tmp/x$(touch /tmp/pwned)`, one with backquotes, or
 * `/tmp/a\"; cmd #` would make that shell run the directory name. The app's own working directory
 * is whatever launched it, and changing it with process.chdir() in the app would race with every
 * other piece of code in the process, so the prompt runs here instead, always from '/'.
 *
 * Protocol: one JSON object `{ "command": string, "name": string }` on stdin (never argv, so the
 * command is not visible in `ps`); one JSON line on stdout: `{ "stdout", "stderr", "error" }` with
 * sudo-prompt's results, or `{ "refused": message }` when the request is not acceptable.
 *
 * Keep this file free of imports other than @vscode/sudo-prompt and Node built-ins: the packaged
 * app ships it as a separate, self-contained script run by the bundled Node runtime.
 */
import { exec } from '@vscode/sudo-prompt';

function reply(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseRequest(text: string): { command: string; name: string } | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the request on stdin is not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'the request on stdin is not an object';
  const { command, name } = value as { command?: unknown; name?: unknown };
  if (typeof command !== 'string' || command === '') return 'the request has no command';
  if (typeof name !== 'string') return 'the request has no name';
  return { command, name };
}

// Its own process: changing the directory here cannot race with anything. The parent also starts
// this process with cwd '/'; both must hold.
process.chdir('/');
const request = parseRequest(await readStdin());
if (typeof request === 'string') {
  reply({ refused: request });
  process.exitCode = 2;
} else if (process.cwd() !== '/') {
  reply({ refused: `the working directory is ${JSON.stringify(process.cwd())}, not /` });
  process.exitCode = 2;
} else {
  exec(request.command, { name: request.name }, (error, stdout, stderr) => {
    reply({
      stdout: stdout === undefined ? '' : String(stdout),
      stderr: stderr === undefined ? '' : String(stderr),
      error:
        error === undefined || error === null
          ? null
          : {
              message: error.message,
              code: (error as { code?: unknown }).code ?? null,
            },
    });
  });
}
