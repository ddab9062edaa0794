/**
 * The password prompt cannot be hijacked through the working directory. @vscode/sudo-prompt builds
 * `cd "<cwd>"; "/usr/bin/pkexec" … /bin/bash -c "…"` and escapes only `"`, so an app started from a
 * directory named `x$(cmd)`, `` b`cmd` `` or `a\"; cmd #` would have that shell run `cmd` (and, with
 * a pkexec in the name, run it as root). Here the real sudo-prompt code runs up to the OS prompt:
 * in a private mount namespace /usr/bin is replaced by a copy (symlinks to the real one) whose
 * pkexec is a fake that records its working directory and argv and then runs the command as the
 * current user. The elevate function runs in a process whose cwd is each hostile directory.
 * Needs root (for the mount namespace): fails, never skips, without it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stageHelper } from '../../../main/electron/build.ts';
import { shellQuote } from '../../../helper/client/helper-installer.ts';
import { rootOnly } from '../../support/root-only.ts';

const skip = rootOnly('it fakes pkexec inside a private mount namespace');

const INSTALLER = new URL('../../../helper/client/helper-installer.ts', import.meta.url).href;
const FLOW = new URL('../../../main/electron/helper-flow.ts', import.meta.url).href;
const REPO = fileURLToPath(new URL('../../..', import.meta.url));

const work = mkdtempSync(join(tmpdir(), 'ngrokd-prompt-cwd-'));
after(() => rmSync(work, { recursive: true, force: true }));

const CWD_LOG = join(work, 'pkexec-cwd.log');
const ARGV_LOG = join(work, 'pkexec-argv.log');
const DECLINE = join(work, 'decline');

/** /usr/bin for the namespace: every real entry through a bind mount of the original, plus the fake. */
function shadowUsrBin(): { orig: string; shadow: string } {
  const orig = join(work, 'orig-usr-bin');
  const shadow = join(work, 'shadow-usr-bin');
  mkdirSync(orig);
  mkdirSync(shadow);
  for (const name of readdirSync('/usr/bin')) {
    // sudo-prompt prefers kdesudo; without it, it uses /usr/bin/pkexec: ours.
    if (name === 'pkexec' || name === 'kdesudo') continue;
    symlinkSync(join(orig, name), join(shadow, name));
  }
  const fake = [
    '#!/bin/sh',
    `if [ -e ${shellQuote(DECLINE)} ]; then exit 126; fi`,
    `pwd -P >> ${shellQuote(CWD_LOG)}`,
    `printf '%s\\0' "$@" >> ${shellQuote(ARGV_LOG)}`,
    // pkexec's own options, then the program: run it as this user.
    'while case "$1" in --*) true ;; *) false ;; esac; do shift; done',
    'exec "$@"',
    '',
  ].join('\n');
  writeFileSync(join(shadow, 'pkexec'), fake);
  chmodSync(join(shadow, 'pkexec'), 0o755);
  return { orig, shadow };
}

const RUNNER = join(work, 'runner.mjs');
writeFileSync(
  RUNNER,
  `
import { writeFileSync } from 'node:fs';
import { HelperInstaller, sudoPromptElevate } from ${JSON.stringify(INSTALLER)};
import { prepareHelperSource } from ${JSON.stringify(FLOW)};
const [mode, arg, root, bundle, stageParent] = process.argv.slice(2);
const cwd = process.cwd();
let result;
try {
  if (mode === 'elevate') {
    result = { out: await sudoPromptElevate(arg) };
  } else if (mode === 'staged') {
    // The app's AppImage path: copy out, then one prompt (default elevate, with the copy's bin/node).
    const source = await prepareHelperSource(bundle, { APPIMAGE: '/home/me/ngrokd.AppImage' });
    try {
      if (arg === 'swap') writeFileSync(source.node, '#!/bin/sh\\ntouch ' + root + '/swapped-ran\\n');
      const installer = new HelperInstaller({
        currentVersion: '0.1.0', root, platform: 'linux', uid: 4242, stageParent,
        sourceRoot: source.sourceRoot, runtime: source.node, installerNode: source.node, stage: source.stage,
        promptNode: bundle + '/bin/node',
      });
      result = { action: (await installer.install()).plan.action };
    } finally {
      await source.dispose();
    }
  } else {
    const runtime = root + '-runtime';
    writeFileSync(runtime, '#!/fake/node\\n');
    const outcome = await new HelperInstaller({ currentVersion: '0.1.0', root, platform: 'linux', uid: 4242, runtime }).install();
    result = { action: outcome.plan.action };
  }
} catch (err) {
  result = { code: err.code ?? null, message: err.message };
}
process.stdout.write(JSON.stringify({ cwd, ...result }) + '\\n');
`,
);

interface RunnerResult {
  cwd: string;
  out?: string;
  action?: string;
  code?: string | null;
  message?: string;
}

const bin = shadowUsrBin();

/** Run the runner from `cwd` in a mount namespace where /usr/bin/pkexec is the fake. */
function fromHostileDir(cwd: string, ...args: string[]): RunnerResult {
  if (process.getuid?.() !== 0) throw new Error('this test must run as root (CI does)');
  const script =
    'set -e; mount --make-rprivate /; mount --bind /usr/bin "$1"; mount --bind "$2" /usr/bin; cd "$3"; shift 3; exec "$@"';
  const child = spawnSync(
    'unshare',
    ['-m', 'sh', '-c', script, 'sh', bin.orig, bin.shadow, cwd, process.execPath, RUNNER, ...args],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(child.status, 0, `runner failed:\n${child.stdout}\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as RunnerResult;
}

const MARKERS = {
  dollar: join(work, 'pwned-dollar'),
  backquote: join(work, 'pwned-backquote'),
  quote: join(work, 'pwned-quote'),
  root: join(work, 'pwned-as-root'),
};

/** Working directories that are shell code once put between sudo-prompt's double quotes. */
const HOSTILE = [
  join(work, `x$(touch ${MARKERS.dollar})`),
  join(work, `b\`touch ${MARKERS.backquote}\``),
  join(work, `a\\"; touch ${MARKERS.quote} #`),
  join(work, `c\\"; /usr/bin/pkexec /bin/sh -c 'touch ${MARKERS.root}' #`),
];

function pkexecRuns(): { cwds: string[]; argvs: string[][] } {
  const cwds = existsSync(CWD_LOG) ? readFileSync(CWD_LOG, 'utf8').split('\n').filter(Boolean) : [];
  const raw = existsSync(ARGV_LOG) ? readFileSync(ARGV_LOG, 'utf8') : '';
  // One record per run: the args up to and including the command after `-c`.
  const args = raw.split('\0').slice(0, -1);
  const argvs: string[][] = [];
  let current: string[] = [];
  for (const arg of args) {
    current.push(arg);
    if (current.at(-2) === '-c') {
      argvs.push(current);
      current = [];
    }
  }
  return { cwds, argvs };
}

function resetLogs(): void {
  rmSync(CWD_LOG, { force: true });
  rmSync(ARGV_LOG, { force: true });
}

const NASTY = `it's "$HOME" \`id\` $(id) \\ back\\slash; done`;

test(
  'sudo-prompt runs from / whatever the working directory: hostile directory names stay inert',
  { skip },
  () => {
    for (const dir of HOSTILE) mkdirSync(dir, { recursive: true });
    for (const dir of HOSTILE) {
      resetLogs();
      const result = fromHostileDir(dir, 'elevate', `printf %s ${shellQuote(NASTY)}`);
      assert.equal(result.cwd, dir, 'the elevating process really ran from the hostile directory');
      assert.equal(result.out, NASTY, `the command ran exactly once, unchanged, from ${JSON.stringify(dir)}`);
      const { cwds, argvs } = pkexecRuns();
      assert.deepEqual(cwds, ['/'], `pkexec ran once, from /, for ${JSON.stringify(dir)}`);
      assert.deepEqual(argvs[0]?.slice(0, 3), ['--disable-internal-agent', '/bin/bash', '-c']);
      for (const [name, marker] of Object.entries(MARKERS)) {
        assert.equal(existsSync(marker), false, `${name}: ${JSON.stringify(dir)} was not run as a command`);
      }
    }
  },
);

test(
  'the installer through the default prompt: installs from a hostile cwd; a decline is HELPER_MISSING',
  { skip },
  async () => {
    const dir = HOSTILE[3] as string;
    mkdirSync(dir, { recursive: true });
    resetLogs();
    const root = join(work, 'root-install');
    mkdirSync(root);
    const installed = fromHostileDir(dir, 'install', '', root);
    assert.deepEqual(installed, { cwd: dir, action: 'install' });
    assert.deepEqual(pkexecRuns().cwds, ['/']);
    assert.ok(existsSync(join(root, 'usr/local/lib/ngrokd-helper/manifest.json')));

    writeFileSync(DECLINE, '');
    try {
      const root2 = join(work, 'root-declined');
      mkdirSync(root2);
      const declined = fromHostileDir(dir, 'install', '', root2);
      assert.equal(declined.code, 'HELPER_MISSING');
      assert.match(declined.message ?? '', /administrator prompt was declined; running in user mode/);
    } finally {
      rmSync(DECLINE, { force: true });
    }
    for (const marker of Object.values(MARKERS)) assert.equal(existsSync(marker), false);
  },
);

test(
  "a staged AppImage install through the real prompt: sudo-prompt's quoting keeps the script intact",
  { skip },
  async () => {
    const dir = HOSTILE[0] as string;
    mkdirSync(dir, { recursive: true });
    const bundle = await stageHelper(REPO, join(work, 'out'));
    const stageParent = join(work, 'stage-parent');
    mkdirSync(stageParent, { mode: 0o700 });

    resetLogs();
    const root = join(work, 'root-staged');
    mkdirSync(root);
    const installed = fromHostileDir(dir, 'staged', 'clean', root, bundle, stageParent);
    assert.deepEqual(installed, { cwd: dir, action: 'install' });
    const { cwds, argvs } = pkexecRuns();
    assert.deepEqual(cwds, ['/']);
    assert.match(argvs[0]?.at(-1) ?? '', /sha256sum -c --strict --quiet/, 'pkexec got the staging script');
    assert.ok(existsSync(join(root, 'usr/local/lib/ngrokd-helper/0.1.0/bin/node')));
    assert.deepEqual(readdirSync(stageParent), []);

    const swappedRoot = join(work, 'root-swapped');
    mkdirSync(swappedRoot);
    const swapped = fromHostileDir(dir, 'staged', 'swap', swappedRoot, bundle, stageParent);
    assert.equal(swapped.code, 'HELPER_ERROR');
    assert.match(swapped.message ?? '', /nothing was run or installed as root: "bin\/node" was modified/);
    assert.deepEqual(
      readdirSync(swappedRoot),
      [],
      'the swapped bin/node never ran and nothing was installed',
    );
    assert.deepEqual(pkexecRuns().cwds, ['/', '/'], 'the refusal came from the elevated script');
    assert.deepEqual(readdirSync(stageParent), []);
    for (const marker of Object.values(MARKERS)) assert.equal(existsSync(marker), false);
  },
);
