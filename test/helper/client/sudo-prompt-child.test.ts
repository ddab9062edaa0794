/**
 * The password prompt runs in a child process started from '/', with the command on stdin. These
 * tests replace the child script with a probe (the real sudo-prompt path, up to pkexec, is in
 * test/helper/client/helper-installer.prompt.test.ts) and check the protocol and its errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { NgrokdError } from '../../../main/common/errors.ts';
import {
  HelperInstaller,
  shellQuote,
  sudoPromptChildScript,
  sudoPromptElevator,
} from '../../../helper/client/helper-installer.ts';
import { scratchDirs } from '../../support/scratch-dirs.ts';

const newDir = await scratchDirs('ngrokd-prompt-child-');

/** A child that answers with what it saw: its cwd, its argv and the request on stdin. */
async function probeScript(): Promise<string> {
  const path = join(await newDir('probe'), 'probe.mjs');
  await writeFile(
    path,
    [
      "let stdin = '';",
      'for await (const chunk of process.stdin) stdin += chunk;',
      'const seen = { cwd: process.cwd(), argv: process.argv.slice(2), request: JSON.parse(stdin) };',
      "process.stdout.write(JSON.stringify({ stdout: JSON.stringify(seen), stderr: '', error: null }) + '\\n');",
    ].join('\n'),
  );
  return path;
}

test('the prompt child starts in / and gets the command on stdin, escaped for sudo-prompt', async () => {
  const script = await probeScript();
  const command = `printf %s ${shellQuote('$HOME `id` \\ "q"')}`;
  const seen = JSON.parse(await sudoPromptElevator({ script, platform: 'linux' })(command)) as {
    cwd: string;
    argv: string[];
    request: { command: string; name: string };
  };
  assert.equal(seen.cwd, '/');
  assert.deepEqual(seen.argv, [], 'nothing on the command line (visible in ps)');
  assert.deepEqual(seen.request, {
    command: `printf %s '\\$HOME \\\`id\\\` \\\\ "q"'`,
    name: 'ngrokd Desktop',
  });
});

test('the real child refuses a malformed request and always works from /', async () => {
  const hostile = join(await newDir('cwd'), 'x$(touch pwned)');
  await mkdir(hostile);
  const child = spawnSync(process.execPath, [sudoPromptChildScript()], {
    cwd: hostile,
    input: '{"command": 42}',
    encoding: 'utf8',
  });
  assert.equal(child.status, 2);
  assert.deepEqual(JSON.parse(child.stdout), { refused: 'the request has no command' });
});

test('a prompt that cannot run is a HELPER_ERROR naming what is missing, not a declined prompt', async () => {
  const dir = await newDir('missing');
  await assert.rejects(sudoPromptElevator({ script: join(dir, 'nope.mjs') })('true'), {
    code: 'HELPER_ERROR',
    message: /the password prompt script ".*nope\.mjs" is missing/,
  });
  const broken = join(dir, 'broken.mjs');
  await writeFile(broken, "throw new Error('broken child');\n");
  await assert.rejects(sudoPromptElevator({ script: broken })('true'), {
    code: 'HELPER_ERROR',
    message: /the password prompt \(.*broken\.mjs\) failed: it exited with 1 and said ".*broken child/,
  });
  await assert.rejects(sudoPromptElevator({ node: join(dir, 'no-node'), script: broken })('true'), {
    code: 'HELPER_ERROR',
    message: /cannot start the password prompt \(.*no-node .*broken\.mjs\): spawn .*ENOENT/,
  });
  let prompts = 0;
  const installer = new HelperInstaller({
    currentVersion: '0.1.0',
    root: dir,
    platform: 'linux',
    elevate: async () => {
      prompts += 1;
      throw new NgrokdError('HELPER_ERROR', 'the password prompt failed', 'Reinstall the app.');
    },
  });
  await assert.rejects(installer.install(), { code: 'HELPER_ERROR', message: 'the password prompt failed' });
  await assert.rejects(installer.install(), { code: 'HELPER_ERROR' });
  assert.equal(prompts, 2, 'not remembered as a decline');
});
