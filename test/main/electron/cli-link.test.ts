/**
 * The command-line tool on the PATH: the elevated command run for real (as sudo-prompt would, by a
 * shell; here as this user or root) into a temporary prefix, with the prompt replaced by a recorder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HelperInstaller, sudoPromptCommand } from '../../../helper/client/helper-installer.ts';
import {
  CLI_BUNDLE_NAME,
  CliLink,
  installCliCommand,
  isLauncherTarget,
  LAUNCHER_SCRIPT,
  uninstallCliCommand,
} from '../../../main/electron/cli-link.ts';
import { HELPER_RUNTIME } from '../../../main/electron/helper-flow.ts';

function tempDir(t: { after(fn: () => void): void }, name = 'cli'): string {
  const dir = mkdtempSync(join(tmpdir(), `ngrokd-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sh(command: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', command, 'sh', ...args], (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

/**
 * An app's Resources: helper/bin/node (this Node) and cli/ngrokd + cli/ngrokd.mjs (here a script
 * printing its argv as JSON), under a directory name that would break naive quoting.
 */
function fakeResources(dir: string, name = 'ngrokd\'s $(touch PWNED) `x` "app"'): string {
  const resources = join(dir, name, 'Resources');
  mkdirSync(join(resources, 'helper', 'bin'), { recursive: true });
  mkdirSync(join(resources, 'cli'), { recursive: true });
  symlinkSync(process.execPath, join(resources, 'helper', HELPER_RUNTIME));
  writeFileSync(
    join(resources, 'cli', CLI_BUNDLE_NAME),
    'process.stdout.write(JSON.stringify(process.argv.slice(2)));\n',
  );
  const launcher = join(resources, 'cli', 'ngrokd');
  writeFileSync(launcher, LAUNCHER_SCRIPT);
  chmodSync(launcher, 0o755);
  return launcher;
}

/** Like sudo-prompt: one shell command, its stdout back even when it fails. */
function recordingElevate(calls: string[], cwd: string) {
  return async (command: string): Promise<string> => {
    calls.push(command);
    // What @vscode/sudo-prompt builds around the command on Linux, minus pkexec.
    const wrapped = `/bin/bash -c "${sudoPromptCommand(command, 'linux').replace(/"/g, '\\"')}"`;
    const { stdout, stderr, code } = await sh(`cd ${JSON.stringify(cwd)} && ${wrapped}`);
    if (code !== 0 && stdout.trim() === '') throw new Error(stderr.trim() || `exit ${code}`);
    return stdout;
  };
}

test('install-cli makes the link with one prompt, and the linked launcher runs the bundled CLI', async (t) => {
  const dir = tempDir(t);
  const launcher = fakeResources(dir);
  const linkPath = join(dir, 'usr', 'local', 'bin', 'ngrokd'); // the directory does not exist yet
  const calls: string[] = [];
  const cli = new CliLink({ launcher, linkPath, elevate: recordingElevate(calls, dir), env: {} });
  assert.deepEqual(await cli.state(), { installed: false, current: false, foreign: false });

  const result = await cli.install();
  assert.deepEqual(result, {
    done: true,
    message: `Installed ${linkPath}: run \`ngrokd status\` in a terminal.`,
  });
  assert.equal(calls.length, 1, 'one elevated command, so one password prompt');
  assert.equal(readlinkSync(linkPath), launcher);
  assert.equal(existsSync(join(dir, 'PWNED')), false, 'no path was run as shell code');
  assert.deepEqual(await cli.state(), { installed: true, current: true, foreign: false });

  // Through the link, with arguments a shell would mangle: the CLI gets them unchanged.
  const args = ['status', '--json', 'a b', "it's", '$(id)', '`id`', '"q"'];
  const run = await new Promise<string>((resolve, reject) =>
    execFile(linkPath, args, (err, stdout) => (err === null ? resolve(stdout) : reject(err))),
  );
  assert.deepEqual(JSON.parse(run), args);

  assert.equal((await cli.install()).message, `${linkPath} is already installed.`);
  assert.equal(calls.length, 1, 'nothing to do: no prompt');
});

test('an older copy of the app is relinked; a file or another tool is never touched', async (t) => {
  const dir = tempDir(t);
  const launcher = fakeResources(dir, 'new');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const calls: string[] = [];
  const linkPath = join(bin, 'ngrokd');
  symlinkSync('/Volumes/old/ngrokd.app/Contents/Resources/cli/ngrokd', linkPath);
  const cli = new CliLink({ launcher, linkPath, elevate: recordingElevate(calls, dir), env: {} });
  assert.deepEqual(await cli.state(), { installed: true, current: false, foreign: false });
  assert.equal((await cli.install()).done, true);
  assert.equal(readlinkSync(linkPath), launcher);

  rmSync(linkPath);
  symlinkSync('/opt/other/ngrokd', linkPath);
  const foreign = await cli.install();
  assert.equal(foreign.done, false);
  assert.match(foreign.message, /is not ngrokd's: it was left alone/);
  assert.equal((await cli.uninstall()).done, false);
  assert.equal(readlinkSync(linkPath), '/opt/other/ngrokd');

  // Even when asked directly, the elevated scripts refuse what is not ours.
  assert.equal((await sh(installCliCommand(launcher, linkPath))).stdout.trim(), 'refused');
  assert.equal((await sh(uninstallCliCommand(linkPath))).stdout.trim(), 'kept');
  assert.equal(readlinkSync(linkPath), '/opt/other/ngrokd');
  rmSync(linkPath);
  writeFileSync(linkPath, '#!/bin/sh\n');
  assert.equal((await sh(installCliCommand(launcher, linkPath))).stdout.trim(), 'refused');
  assert.equal(lstatSync(linkPath).isFile(), true);
  assert.equal((await cli.install()).done, false);
  assert.equal(calls.length, 1, 'refused before any prompt');
});

test('uninstall-cli removes only our link, with one prompt; a declined prompt changes nothing', async (t) => {
  const dir = tempDir(t);
  const launcher = fakeResources(dir);
  const linkPath = join(dir, 'bin', 'ngrokd');
  const calls: string[] = [];
  const cli = new CliLink({ launcher, linkPath, elevate: recordingElevate(calls, dir), env: {} });
  assert.deepEqual(await cli.uninstall(), { done: false, message: `${linkPath} is not installed.` });
  assert.equal((await cli.install()).done, true);

  const declined = new CliLink({
    launcher,
    linkPath,
    elevate: async () => {
      throw new Error('User did not grant permission.');
    },
    env: {},
  });
  assert.deepEqual(await declined.uninstall(), {
    done: false,
    message: 'Nothing changed: the password prompt was declined.',
  });
  assert.equal(readlinkSync(linkPath), launcher);

  assert.deepEqual(await cli.uninstall(), { done: true, message: `Removed ${linkPath}.` });
  assert.equal(existsSync(linkPath), false);
  assert.equal(calls.length, 2);
});

test('from an AppImage (files at a new mount path on every launch) it says why not, without a prompt', async () => {
  const cli = new CliLink({
    launcher: '/tmp/.mount_ngrokdX/resources/cli/ngrokd',
    linkPath: '/nonexistent/ngrokd',
    elevate: () => assert.fail('no prompt'),
    env: { APPIMAGE: '/home/me/ngrokd.AppImage' },
  });
  const result = await cli.install();
  assert.equal(result.done, false);
  assert.match(result.message, /AppImage/);
});

test('isLauncherTarget: this launcher and other copies of the app, nothing else', () => {
  const launcher = '/Applications/ngrokd.app/Contents/Resources/cli/ngrokd';
  assert.equal(isLauncherTarget(launcher, launcher), true);
  assert.equal(
    isLauncherTarget('/Users/me/Downloads/ngrokd.app/Contents/Resources/cli/ngrokd', launcher),
    true,
  );
  assert.equal(isLauncherTarget('/home/me/ngrokd/out/cli/ngrokd', launcher), true);
  assert.equal(isLauncherTarget('/usr/local/Cellar/ngrokd/1.0/bin/ngrokd', launcher), false);
  assert.equal(isLauncherTarget('/opt/cli/ngrokd', launcher), false);
});

test('uninstalling the helper removes the CLI link in the same elevated command', async (t) => {
  const dir = tempDir(t);
  const launcher = fakeResources(dir);
  const linkPath = join(dir, 'bin', 'ngrokd');
  const calls: string[] = [];
  assert.equal(
    (await new CliLink({ launcher, linkPath, elevate: recordingElevate([], dir), env: {} }).install()).done,
    true,
  );
  const installer = new HelperInstaller({
    currentVersion: '0.2.0',
    root: join(dir, 'root'),
    platform: 'linux',
    // A stand-in installer that prints the outcome line the real one would.
    installerNode: '/bin/echo',
    sourceRoot: join(dir, 'nowhere'),
    uninstallPrelude: uninstallCliCommand(linkPath, true),
    elevate: recordingElevate(calls, dir),
  });
  assert.match(installer.uninstallCommand(), /^'\/bin\/sh' '-c' 'if \[ -L/);
  await assert.rejects(installer.uninstall(), { code: 'HELPER_ERROR', message: /gave no result/ });
  assert.equal(calls.length, 1, 'one prompt for both');
  assert.equal(existsSync(linkPath), false, 'the link went with it');
  assert.match(
    calls[0] ?? '',
    / >\/dev\/null 2>&1; '\/bin\/echo' /,
    'quiet, so the installer owns the last line',
  );
});
