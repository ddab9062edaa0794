import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { applyPlan } from '../../../helper/install/apply.ts';
import { planInstall, planUninstall } from '../../../helper/install/plan.ts';
import { helperStatus } from '../../../helper/install/status.ts';
import { checkoutSource } from '../../../helper/install/source.ts';
import { HelperServer, type ServedOps } from '../../../helper/server.ts';
import { registerHelperCommand } from '../../../main/cli/helper-command.ts';
import { NgrokdError } from '../../../main/common/errors.ts';
import {
  HelperInstaller,
  helloVersion,
  shellCommand,
  shellQuote,
  sudoPromptCommand,
} from '../../../helper/client/helper-installer.ts';
import { scratchDirs } from '../../support/scratch-dirs.ts';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const newDir = await scratchDirs('ngrokd-helper-installer-');

const BASE = '/usr/local/lib/ngrokd-helper';
const UNIT = '/etc/systemd/system/ngrokd-helper.service';

function execFileText(
  file: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ stdout: code === 0 || stdout !== '' ? stdout : stderr, code });
    });
  });
}

test('the real checkout installs a self-contained helper: its own Node runs its own code and packages', async () => {
  const source = await checkoutSource({ root: REPO });
  const targets = new Set(source.files.map((f) => f.to));
  for (const expected of [
    'bin/node',
    'app/helper/main.ts',
    'app/helper/install/cli.ts',
    'app/main/common/contract.ts',
    'app/node_modules/zod/package.json',
    'app/node_modules/koffi/package.json',
    `app/node_modules/@koromix/koffi-${process.platform}-${process.arch}/package.json`,
  ]) {
    assert.ok(targets.has(expected), expected);
  }
  assert.ok(
    ![...targets].some(
      (t) => t.startsWith('app/main/engine/') || t.startsWith('app/test/') || t.endsWith('.test.ts'),
    ),
  );

  const root = await newDir('real');
  const plan = await planInstall({ root, platform: 'linux', version: '0.1.0', uid: 1000, source });
  await applyPlan(plan, { root });
  const app = join(root, BASE, '0.1.0/app');
  const node = join(root, BASE, '0.1.0/bin/node');
  // One run of the installed Node: the native koffi, zod through the shared protocol, and the
  // installed installer reading its own manifest.
  const probe = await execFileText(
    node,
    [
      '--input-type=module',
      '-e',
      [
        "const koffi = (await import('koffi')).default;",
        "const { helperMethods } = await import('./helper/protocol.ts');",
        "const { helperStatus } = await import('./helper/install/status.ts');",
        'const status = await helperStatus({ root: process.argv[1], platform: "linux" });',
        "console.log(koffi.sizeof('uint32_t'), Object.keys(helperMethods).includes('hello'), status.state);",
      ].join('\n'),
      root,
    ],
    { cwd: app },
  );
  assert.deepEqual(probe, { stdout: '4 true intact\n', code: 0 });
  await applyPlan(await planUninstall({ root, platform: 'linux' }), { root });
  assert.deepEqual(await readdir(root), []);
});

const NASTY = [
  '',
  'plain',
  'with space',
  "it's",
  "''",
  '"double"',
  '$HOME',
  '${PATH}',
  '`id`',
  '$(touch /tmp/ngrokd-pwned)',
  'back\\slash\\',
  'semi;colon && pipe | amp &',
  '*?[glob]',
  '-n',
  'tab\there',
  'ünïcödé ✓',
  'mixed \'"$`\\ all',
];

test('shellQuote: every nasty string reaches the program unchanged; line breaks and NUL are refused', async () => {
  for (const value of NASTY) {
    const { stdout } = await execFileText('/bin/sh', ['-c', `printf %s ${shellQuote(value)}`]);
    assert.equal(stdout, value, `round trip of ${JSON.stringify(value)}`);
  }
  const many = await execFileText('/bin/sh', ['-c', shellCommand(['printf', '[%s]', ...NASTY])]);
  assert.equal(many.stdout, NASTY.map((v) => `[${v}]`).join(''));
  for (const bad of ['a\nb', 'a\rb', 'a\0b']) {
    assert.throws(() => shellQuote(bad), { code: 'HELPER_ERROR', message: /NUL or line break/ });
  }
});

test("sudo-prompt's Linux wrapper (sh -c 'bash -c \"…\"') delivers the arguments unchanged", async () => {
  // Exactly what @vscode/sudo-prompt builds around the command on Linux, minus pkexec.
  const wrap = (command: string) => `/bin/bash -c "echo SUDOPROMPT; ${command.replace(/"/g, '\\"')}"`;
  const command = shellCommand(['printf', '[%s]', ...NASTY]);
  const { stdout } = await execFileText('/bin/sh', ['-c', wrap(sudoPromptCommand(command, 'linux'))]);
  assert.equal(stdout, `SUDOPROMPT\n${NASTY.map((v) => `[${v}]`).join('')}`);
  // Without the extra escaping the outer shell would expand $HOME as the user.
  const naive = await execFileText('/bin/sh', ['-c', wrap(shellCommand(['printf', '%s', '$HOME']))]);
  assert.notEqual(naive.stdout, 'SUDOPROMPT\n$HOME');
  assert.equal(sudoPromptCommand(command, 'darwin'), command);
});

test('ensureHelper: nothing when current, one elevated command when missing, a decline is final', async () => {
  const root = await newDir('ensure');
  const runtime = join(await newDir('runtime'), 'node');
  await writeFile(runtime, '#!/fake/node\n');
  const commands: string[] = [];
  /** Like sudo-prompt: run the command with a shell; a failing command still yields its stdout. */
  const elevate = async (command: string) => {
    commands.push(command);
    const { stdout } = await execFileText('/bin/sh', ['-c', command]);
    return stdout;
  };
  const options = { currentVersion: '0.1.0', root, platform: 'linux' as const, uid: 4242, runtime, elevate };

  const first = await new HelperInstaller(options).ensure();
  assert.deepEqual(first, { action: 'install', previous: null, warnings: [] });
  assert.equal(commands.length, 1);
  assert.ok(
    commands[0]?.startsWith(
      `${shellQuote(process.execPath)} ${shellQuote(join(REPO, 'helper/install/cli.ts'))} 'install'`,
    ),
  );
  const status = await helperStatus({ root, platform: 'linux' });
  assert.deepEqual([status.state, status.version, status.uid], ['intact', '0.1.0', 4242]);

  assert.deepEqual(await new HelperInstaller(options).ensure(), {
    action: 'none',
    previous: '0.1.0',
    warnings: [],
  });
  const answered = await new HelperInstaller({ ...options, runningVersion: async () => '0.1.0' }).ensure();
  assert.equal(answered.action, 'none');
  assert.equal(commands.length, 1);

  // An older helper answering the handshake gets replaced with one prompt.
  const upgradeCommands: string[] = [];
  const older = await new HelperInstaller({
    ...options,
    runningVersion: async () => '0.0.9',
    elevate: async (command) => {
      upgradeCommands.push(command);
      const plan = { action: 'upgrade', platform: 'linux', from: '0.0.9', to: '0.1.0', commitStep: 1 };
      return `${JSON.stringify({ ok: true, command: 'install', plan, result: { ran: [], skipped: [], warnings: [] } })}\n`;
    },
  }).ensure();
  assert.deepEqual(older, { action: 'upgrade', previous: '0.0.9', warnings: [] });
  assert.equal(upgradeCommands.length, 1);
  assert.match(upgradeCommands[0] ?? '', / '--version' '0\.1\.0' /);
  assert.match(upgradeCommands[0] ?? '', / '--uid' '4242' /);

  // The installer's own error comes back as the same NgrokdError.
  await assert.rejects(new HelperInstaller({ ...options, currentVersion: 'bogus' }).ensure(), {
    code: 'HELPER_ERROR',
    message: /helper version "bogus" is not a version/,
  });

  let prompts = 0;
  const declining = new HelperInstaller({
    ...options,
    root: await newDir('declined'),
    elevate: async () => {
      prompts += 1;
      throw new Error('User did not grant permission.');
    },
  });
  const declined = { code: 'HELPER_MISSING', message: /prompt was declined; running in user mode/ };
  await assert.rejects(declining.ensure(), declined);
  await assert.rejects(declining.ensure(), declined);
  assert.equal(prompts, 1);
  declining.reset();
  await assert.rejects(declining.ensure(), declined);
  assert.equal(prompts, 2);

  const headless = new HelperInstaller({
    ...options,
    root: await newDir('headless'),
    elevate: async () => {
      throw new Error('No polkit authentication agent found.');
    },
  });
  await assert.rejects(headless.ensure(), {
    code: 'HELPER_MISSING',
    message: /no password prompt is available here/,
  });
});

test('the hello handshake tells the running helper version; no helper answers null', async () => {
  const socketPath = join(await newDir('hello'), 'helper.sock');
  assert.equal(await helloVersion('0.1.0', socketPath), null);
  const unused = async (): Promise<never> => {
    throw new Error('not used by hello');
  };
  const ops: ServedOps = {
    hostsPath: '/etc/hosts',
    pinned: null,
    ensureInterface: unused,
    setAddresses: unused,
    setHosts: unused,
    listen: unused,
    teardown: unused,
    checkNetwork: unused,
  };
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const server = await HelperServer.start({
    socketPath,
    // Root is always allowed; a contributor running the tests as themselves is the installed user.
    allowedUid: process.getuid?.() ?? null,
    ops,
    version: '0.0.9',
    logger: quiet,
  });
  try {
    assert.equal(await helloVersion('0.1.0', socketPath), '0.0.9');
  } finally {
    await server.close();
  }
});

/** Run `ngrokd <args>` with the helper subcommand, in this process, capturing stdout. */
async function ngrokd(...args: string[]): Promise<{ stdout: string; code: number }> {
  const program = new Command('ngrokd').exitOverride();
  registerHelperCommand(program);
  let stdout = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(args, { from: 'user' });
    return { stdout, code: process.exitCode === undefined ? 0 : Number(process.exitCode) };
  } catch (err) {
    if (!(err instanceof NgrokdError)) throw err;
    return { stdout: `${stdout}ngrokd: [${err.code}] ${err.message}\n`, code: 1 };
  } finally {
    process.stdout.write = write;
    process.exitCode = undefined;
  }
}

test('`ngrokd helper install|status|uninstall --root` works headless', async () => {
  const root = await newDir('cli');
  const runtime = join(await newDir('runtime'), 'node');
  await writeFile(runtime, '#!/fake/node\n');

  const installed = await ngrokd('helper', 'install', '--root', root, '--uid', '1234', '--runtime', runtime);
  assert.equal(installed.code, 0, installed.stdout);
  assert.match(
    installed.stdout,
    /^Helper \d+\.\d+\.\d+\S* installed under .*:\n {2}files: {3}\/usr\/local\/lib\/ngrokd-helper\n/,
  );
  assert.match(installed.stdout, /not run \(root is not \/\):\n {4}systemctl daemon-reload\n/);

  const status = await ngrokd('helper', 'status', '--root', root);
  assert.equal(status.code, 0);
  assert.match(status.stdout, /^Helper \S+ for uid 1234 \(installed .*\): intact\n$/);
  await writeFile(join(root, UNIT), '[Service]\nExecStart=/bin/sh\n');
  const tampered = await ngrokd('helper', 'status', '--root', root, '--json');
  assert.equal(tampered.code, 1);
  assert.deepEqual((JSON.parse(tampered.stdout) as { problems: string[] }).problems, [`modified: ${UNIT}`]);

  const removed = await ngrokd('helper', 'uninstall', '--root', root);
  assert.equal(removed.code, 0);
  assert.match(removed.stdout, /^Helper \S+ uninstalled under /);
  assert.deepEqual(await readdir(root), []);

  assert.deepEqual(await ngrokd('helper', 'install', '--root', 'relative/dir'), {
    stdout: 'ngrokd: [HELPER_ERROR] --root "relative/dir" is not an absolute path\n',
    code: 1,
  });
  assert.deepEqual(await ngrokd('helper', 'install', '--root', root, '--uid', 'me'), {
    stdout: 'ngrokd: [HELPER_ERROR] --uid "me" is not a numeric user id\n',
    code: 1,
  });
});
