/**
 * Root never executes or installs a file the user can still swap. From an AppImage the helper is
 * copied into a directory of the user's; the one elevated command copies that into a fresh
 * root-only directory, checks it against the manifest the app wrote before elevation (whose hash
 * is in the command), and only then runs the installer from the root-owned copy. Here an attacker
 * process swaps or adds files in the user's copy while the "password prompt" is open (between
 * preparation and the elevated run): the command must refuse, name the file, and never run it.
 * The elevated command really runs as root (an `elevate` that runs /bin/sh -c) into a temp root.
 * Needs root: fails, never skips, without it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { helperStatus } from '../../../helper/install/status.ts';
import { helperLayout } from '../../../helper/install/layout.ts';
import { NgrokdError, type UserFacingError } from '../../../main/common/errors.ts';
import { stageHelper } from '../../../main/electron/build.ts';
import { HELPER_RUNTIME, HelperFlow, prepareHelperSource } from '../../../main/electron/helper-flow.ts';
import { HelperInstaller, shellQuote } from '../../../helper/client/helper-installer.ts';
import { scratchDirs } from '../../support/scratch-dirs.ts';
import { rootOnly } from '../../support/root-only.ts';

const skip = rootOnly('it installs the helper as root');

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const newDir = await scratchDirs('ngrokd-helper-staging-');
const VERSION = '0.3.0';
const LAYOUT = helperLayout('linux');

function sh(args: string[]): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', args, { encoding: 'utf8', maxBuffer: 1 << 24 }, (err, stdout) => {
      resolve({ stdout, code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1 });
    });
  });
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** The real bundled helper (resources/helper), as `npm run build:main` stages it. */
const bundle = await stageHelper(REPO, await newDir('out'));

/** A small bundle of the same shape, for the refusals (nothing in it ever runs when all is well). */
async function smallBundle(): Promise<string> {
  const dir = await newDir('small');
  await mkdir(join(dir, 'bin'));
  await mkdir(join(dir, 'helper/install'), { recursive: true });
  await writeFile(join(dir, HELPER_RUNTIME), '#!/bin/sh\necho "{}"\n', { mode: 0o755 });
  await writeFile(join(dir, 'helper/install/cli.ts'), 'export {};\n');
  await writeFile(join(dir, 'helper/main.ts'), 'export const main = 1;\n');
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  return dir;
}

interface Run {
  commands: string[];
  /** Root-only parent of the staging directory: empty again after every run. */
  stageParent: string;
  /** What the attacker's code would create if root ever ran it. */
  marker: string;
  elevate(command: string): Promise<string>;
}

/**
 * An elevation that runs the command as root with /bin/sh; `attack` runs first, as a separate
 * process, the way another program of the user's would while the prompt is open.
 */
async function elevation(attack?: (marker: string) => string[]): Promise<Run> {
  const stageParent = await newDir('stage-parent');
  await chmod(stageParent, 0o700);
  const marker = join(await newDir('marker'), 'root-ran-the-attacker');
  const commands: string[] = [];
  return {
    commands,
    stageParent,
    marker,
    elevate: async (command) => {
      commands.push(command);
      if (attack !== undefined) {
        const done = await sh(['-c', attack(marker).join('; ')]);
        assert.equal(done.code, 0, 'the attack itself worked');
      }
      return (await sh(['-c', command])).stdout;
    },
  };
}

async function stagedInstaller(
  source: Awaited<ReturnType<typeof prepareHelperSource>>,
  run: Run,
  root: string,
) {
  return new HelperInstaller({
    currentVersion: VERSION,
    sourceRoot: source.sourceRoot,
    runtime: source.node,
    installerNode: source.node,
    ...(source.stage === undefined ? {} : { stage: source.stage }),
    root,
    platform: 'linux',
    uid: 4242,
    stageParent: run.stageParent,
    elevate: run.elevate,
  });
}

test(
  'from an AppImage: root stages, verifies and installs the real helper, then uninstalls it',
  { skip },
  async () => {
    const root = await newDir('root');
    const run = await elevation();
    // The user's TMPDIR decides where the copy goes: a hostile name stays one word.
    const tmp = join(await newDir('tmp'), `t$(touch ${run.marker})'\`id\``);
    await mkdir(tmp, { recursive: true });
    const reported: UserFacingError[] = [];
    const flow = new HelperFlow({
      currentVersion: VERSION,
      bundledSource: bundle,
      createInstaller: (o) =>
        new HelperInstaller({
          ...o,
          root,
          platform: 'linux',
          uid: 4242,
          stageParent: run.stageParent,
          elevate: run.elevate,
        }),
      confirm: async () => true,
      report: (error) => reported.push(error),
      restartEngine: async (during) => {
        await during?.();
      },
      env: { APPIMAGE: '/home/me/ngrokd.AppImage', TMPDIR: tmp },
    });
    assert.equal(await flow.install('first-run'), true, JSON.stringify(reported));
    assert.equal(run.commands.length, 1, 'one elevated command: one password prompt');
    const command = run.commands[0] ?? '';
    const manifestHash = /printf '%s {2}%s\\n' '([0-9a-f]{64})'/.exec(command)?.[1];
    assert.ok(manifestHash, 'the manifest hash is in the command literally');
    // The user's copy appears only as what root copies from, never as a program or a --source.
    assert.equal(
      command.split(tmp.replace(/'/g, `'\\''`)).length - 1,
      2,
      'manifest and tree, copied once each',
    );
    assert.match(
      command,
      /cd \/ && "\$ngrokd_stage\/tree"'\/bin\/node' "\$ngrokd_stage\/tree"'\/helper\/install\/cli\.ts' 'install'/,
    );
    assert.match(
      command,
      /'--source' "\$ngrokd_stage\/tree" '--runtime' "\$ngrokd_stage\/tree"'\/bin\/node'/,
    );

    const status = await helperStatus({ root, platform: 'linux' });
    assert.deepEqual(
      [status.state, status.version, status.uid],
      ['intact', VERSION, 4242],
      status.problems.join(),
    );
    const installed = join(root, LAYOUT.baseDir, VERSION);
    assert.equal(await sha256(join(installed, 'bin/node')), await sha256(join(bundle, HELPER_RUNTIME)));
    assert.deepEqual(await readdir(run.stageParent), [], 'the staging directory is gone');
    assert.deepEqual(await readdir(tmp), [], "the user's copy is gone");
    assert.equal(existsSync(run.marker), false);

    // Uninstall runs the installer too: staged the same way.
    assert.equal(await flow.uninstall(), true, JSON.stringify(reported));
    assert.equal(run.commands.length, 2);
    assert.match(run.commands[1] ?? '', /"\$ngrokd_stage\/tree"'\/helper\/install\/cli\.ts' 'uninstall'/);
    assert.deepEqual(await readdir(root), []);
    assert.deepEqual(await readdir(run.stageParent), []);
    assert.deepEqual(reported, []);
  },
);

/** Swap `file` in the user's copy for `content` from another process; expect a refusal naming it. */
async function refusesSwap(options: {
  bundled: string;
  attack: (copy: string, marker: string, manifest: string) => Promise<string[]>;
  message: RegExp;
}): Promise<void> {
  const root = await newDir('root');
  const source = await prepareHelperSource(options.bundled, { APPIMAGE: '/home/me/ngrokd.AppImage' });
  try {
    const evil = await newDir('evil');
    let attack: string[] = [];
    const run = await elevation(() => attack);
    attack = await options.attack(source.sourceRoot, run.marker, join(evil, 'x'));
    const installer = await stagedInstaller(source, run, root);
    const error = await installer.install().then(
      () => assert.fail('the swapped helper was installed'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof NgrokdError, String(error));
    assert.equal(error.code, 'HELPER_ERROR');
    assert.match(
      error.message,
      /changed after ngrokd prepared them, so nothing was run or installed as root/,
    );
    assert.match(error.message, options.message);
    assert.match(error.fix, /Install the helper again/);
    assert.equal(existsSync(run.marker), false, 'root never ran the swapped file');
    assert.deepEqual(await readdir(root), [], 'nothing was installed');
    assert.deepEqual(await readdir(run.stageParent), [], 'the staging directory is gone');
  } finally {
    await source.dispose();
  }
}

test(
  'an attacker swapping bin/node in the copy while the prompt is open: refused, never run',
  { skip },
  async () => {
    await refusesSwap({
      bundled: bundle,
      message: /"bin\/node" was modified/,
      attack: async (copy, marker, evil) => {
        await writeFile(evil, `#!/bin/sh\ntouch ${shellQuote(marker)}\n`, { mode: 0o755 });
        return [`cp ${shellQuote(evil)} ${shellQuote(join(copy, HELPER_RUNTIME))}`];
      },
    });
  },
);

test('an attacker swapping helper/install/cli.ts in the copy: refused, never run', { skip }, async () => {
  await refusesSwap({
    bundled: bundle,
    message: /"helper\/install\/cli\.ts" was modified/,
    attack: async (copy, marker, evil) => {
      await writeFile(
        evil,
        `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, '');\n`,
      );
      return [`cp ${shellQuote(evil)} ${shellQuote(join(copy, 'helper/install/cli.ts'))}`];
    },
  });
});

test(
  'rewriting the manifest to match the swapped file is refused by the hash in the command',
  { skip },
  async () => {
    await refusesSwap({
      bundled: await smallBundle(),
      message: /the file list ".*manifest\.sha256" was rewritten/,
      attack: async (copy, marker, evil) => {
        const content = `#!/bin/sh\ntouch ${shellQuote(marker)}\n`;
        await writeFile(evil, content, { mode: 0o755 });
        const hash = createHash('sha256').update(content).digest('hex');
        const manifest = join(copy, '..', 'manifest.sha256');
        return [
          `cp ${shellQuote(evil)} ${shellQuote(join(copy, HELPER_RUNTIME))}`,
          `sed -i 's/^[0-9a-f]*  bin\\/node$/${hash}  bin\\/node/' ${shellQuote(manifest)}`,
        ];
      },
    });
  },
);

test('a planted node_modules that would shadow a verified package is refused', { skip }, async () => {
  await refusesSwap({
    bundled: await smallBundle(),
    message: /"helper\/node_modules\/zod\/index\.js" was added/,
    attack: async (copy, marker) => [
      `mkdir -p ${shellQuote(join(copy, 'helper/node_modules/zod'))}`,
      `printf '%s' ${shellQuote(`require('fs').writeFileSync(${JSON.stringify(marker)}, '')`)} > ${shellQuote(join(copy, 'helper/node_modules/zod/index.js'))}`,
    ],
  });
});

test(
  'a listed file replaced by a symlink to an identical, user-owned file is refused',
  { skip },
  async () => {
    const bundled = await smallBundle();
    await refusesSwap({
      bundled,
      message: /"helper\/main\.ts" is not a regular file/,
      attack: async (copy, _marker, evil) => {
        // Same bytes, so the checksum alone would pass; the user could change the target later.
        await writeFile(evil, await readFile(join(bundled, 'helper/main.ts')));
        const main = join(copy, 'helper/main.ts');
        await rm(main);
        await symlink(evil, main);
        return ['true'];
      },
    });
  },
);

test('the staging directory is root-only and the stage needs a real sha256', { skip }, async () => {
  const source = await prepareHelperSource(await smallBundle(), { APPIMAGE: '/x.AppImage' });
  try {
    const { stage } = source;
    assert.ok(stage);
    const info = await stat(stage.manifest);
    assert.equal(info.mode & 0o077, 0, 'the manifest is private to the user');
    // What mktemp -d creates under the root-only parent while the command runs.
    const run = await elevation();
    const probe = new HelperInstaller({
      currentVersion: VERSION,
      sourceRoot: source.sourceRoot,
      stage,
      root: await newDir('root'),
      platform: 'linux',
      stageParent: run.stageParent,
      elevate: async (command) => {
        const seen = await sh(['-c', command.replace(/cd \/ && .*$/, `stat -c '%u %a' "$ngrokd_stage"`)]);
        return seen.stdout;
      },
    });
    await assert.rejects(probe.install(), (err: NgrokdError) => {
      assert.match(err.message, /output: "0 700\\n"/);
      return true;
    });
    assert.throws(
      () =>
        new HelperInstaller({
          currentVersion: VERSION,
          sourceRoot: source.sourceRoot,
          stage: { ...stage, manifestSha256: `x'; touch /tmp/pwned; '` },
          platform: 'linux',
        }).command({ command: 'uninstall', root: '/', platform: 'linux' }),
      { code: 'HELPER_ERROR', message: /is not a sha256/ },
    );
  } finally {
    await source.dispose();
  }
});
