import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parseInstallerArgs, installerArgs, type InstallerRequest } from '../../../helper/install/cli.ts';
import { applyPlan } from '../../../helper/install/apply.ts';
import { planInstall, planUninstall } from '../../../helper/install/plan.ts';
import { helperStatus } from '../../../helper/install/status.ts';
import { helperLayout, validateUid, validateVersion } from '../../../helper/install/layout.ts';
import {
  checkoutSource,
  packageName,
  runtimeImports,
  type HelperSource,
} from '../../../helper/install/source.ts';
import type { CommandArgv } from '../../../main/system/run-command.ts';
import { scratchDirs } from '../../support/scratch-dirs.ts';

const newDir = await scratchDirs('ngrokd-helper-install-');

const OWNER = process.geteuid?.() ?? 0;
const BASE = '/usr/local/lib/ngrokd-helper';
const UNIT = '/etc/systemd/system/ngrokd-helper.service';

/** A small helper "build": files by destination (relative to the version dir) with their content. */
async function fakeSource(files: Record<string, string>): Promise<HelperSource> {
  const dir = await newDir('source');
  const list = [];
  for (const [to, content] of Object.entries(files)) {
    const from = join(dir, to);
    await mkdir(dirname(from), { recursive: true });
    await writeFile(from, content);
    list.push({ from, to, executable: to === 'bin/node' });
  }
  return { description: `test source ${dir}`, files: list };
}

const V1_FILES = {
  'bin/node': '#!/fake/node v1\n',
  'app/helper/main.ts': 'export const main = 1;\n',
  'app/helper/old-only.ts': 'export const old = true;\n',
  'app/main/common/errors.ts': 'export const errors = 1;\n',
  'app/node_modules/koffi/index.js': 'module.exports = {};\n',
};
const V2_FILES = {
  'bin/node': '#!/fake/node v2\n',
  'app/helper/main.ts': 'export const main = 2;\n',
  'app/helper/new-only.ts': 'export const added = true;\n',
  'app/main/common/errors.ts': 'export const errors = 2;\n',
  'app/node_modules/koffi/index.js': 'module.exports = { v: 2 };\n',
};

interface Entry {
  type: 'file' | 'dir' | 'other';
  mode: number;
  uid: number;
}

/** Everything under `root`, by path relative to it. */
async function tree(root: string, dir = ''): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for (const name of await readdir(join(root, dir))) {
    const rel = `${dir}/${name}`;
    const info = await lstat(join(root, rel));
    out.set(rel, {
      type: info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'other',
      mode: info.mode & 0o7777,
      uid: info.uid,
    });
    if (info.isDirectory()) for (const [k, v] of await tree(root, rel)) out.set(k, v);
  }
  return out;
}

function recorder(fail: (argv: CommandArgv) => boolean = () => false) {
  const ran: string[][] = [];
  const run = async (argv: CommandArgv) => {
    ran.push([...argv]);
    if (fail(argv)) throw new Error(`${argv[0]} failed`);
    return { stdout: '', stderr: '' };
  };
  return { ran, run };
}

async function install(
  root: string,
  version: string,
  files: Record<string, string>,
  platform: 'linux' | 'darwin' = 'linux',
) {
  const plan = await planInstall({ root, platform, version, uid: 1000, source: await fakeSource(files) });
  return { plan, result: await applyPlan(plan, { root }) };
}

test('install into an empty root: files with root-only modes, the unit, the manifest', async () => {
  const root = await newDir('root');
  const { plan, result } = await install(root, '0.1.0', V1_FILES);
  assert.equal(plan.action, 'install');
  assert.equal(plan.from, null);
  assert.deepEqual(result.ran, []);
  assert.deepEqual(result.skipped, [
    ['systemctl', 'daemon-reload'],
    ['systemctl', 'enable', '--now', 'ngrokd-helper.service'],
  ]);

  const version = `${BASE}/0.1.0`;
  for (const [to, content] of Object.entries(V1_FILES)) {
    assert.equal(await readFile(join(root, version, to), 'utf8'), content);
  }
  const entries = await tree(root);
  assert.equal(entries.get(`${version}/bin/node`)?.mode, 0o755);
  assert.equal(entries.get(`${version}/app/helper/main.ts`)?.mode, 0o644);
  assert.equal(entries.get(UNIT)?.mode, 0o644);
  for (const [path, entry] of entries) {
    assert.equal(entry.uid, OWNER, `owner of ${path}`);
    assert.equal(entry.mode & 0o022, 0, `${path} must not be group/other-writable`);
    if (entry.type === 'dir') assert.equal(entry.mode, 0o755, path);
    assert.notEqual(entry.type, 'other', path);
  }

  const unit = await readFile(join(root, UNIT), 'utf8');
  assert.match(
    unit,
    /^ExecStart=\/usr\/local\/lib\/ngrokd-helper\/0\.1\.0\/bin\/node \/usr\/local\/lib\/ngrokd-helper\/0\.1\.0\/app\/helper\/main\.ts --socket \/run\/ngrokd-helper\.sock --allowed-uid 1000$/m,
  );
  for (const line of [
    'Type=simple',
    'Restart=on-failure',
    'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_CHOWN',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=/etc /run',
    'PrivateTmp=yes',
    'WantedBy=multi-user.target',
  ]) {
    assert.ok(unit.split('\n').includes(line), `unit has ${line}`);
  }
  assert.deepEqual(JSON.parse(await readFile(join(root, version, 'app/package.json'), 'utf8')), {
    name: 'ngrokd-helper',
    version: '0.1.0',
    private: true,
    type: 'module',
  });

  const manifest = JSON.parse(await readFile(join(root, BASE, 'manifest.json'), 'utf8')) as {
    version: string;
    uid: number;
    files: { path: string; sha256: string; mode: number }[];
  };
  assert.equal(manifest.version, '0.1.0');
  assert.equal(manifest.uid, 1000);
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  assert.deepEqual(
    manifest.files.find((f) => f.path === `${version}/app/helper/main.ts`),
    {
      path: `${version}/app/helper/main.ts`,
      sha256: sha(V1_FILES['app/helper/main.ts']),
      mode: 0o644,
    },
  );
  assert.equal(manifest.files.find((f) => f.path === UNIT)?.sha256, sha(unit));
  assert.equal(manifest.files.length, Object.keys(V1_FILES).length + 2);

  const status = await helperStatus({ root, platform: 'linux' });
  assert.deepEqual(
    { ...status, installedAt: null },
    {
      state: 'intact',
      platform: 'linux',
      version: '0.1.0',
      uid: 1000,
      installedAt: null,
      problems: [],
    },
  );
});

test('status reports a missing, tampered or partial install; reinstalling repairs it', async () => {
  const root = await newDir('root');
  assert.equal((await helperStatus({ root, platform: 'linux' })).state, 'missing');
  await install(root, '0.1.0', V1_FILES);
  const version = join(root, BASE, '0.1.0');
  await writeFile(join(version, 'app/helper/main.ts'), 'process.exit(0)\n');
  await chmod(join(version, 'app/main/common/errors.ts'), 0o666);
  await rm(join(version, 'app/helper/old-only.ts'));
  await writeFile(join(version, 'app/helper/dropped-in.ts'), 'evil\n');
  const status = await helperStatus({ root, platform: 'linux' });
  assert.equal(status.state, 'tampered');
  assert.deepEqual(status.problems.sort(), [
    `missing: ${BASE}/0.1.0/app/helper/old-only.ts`,
    `modified: ${BASE}/0.1.0/app/helper/main.ts`,
    `unexpected file: ${BASE}/0.1.0/app/helper/dropped-in.ts`,
    `wrong mode 666 (expected 644): ${BASE}/0.1.0/app/main/common/errors.ts`,
  ]);

  const { plan } = await install(root, '0.1.0', V1_FILES);
  assert.equal(plan.action, 'reinstall');
  assert.equal((await helperStatus({ root, platform: 'linux' })).state, 'intact');
  assert.equal(await readFile(join(version, 'app/helper/main.ts'), 'utf8'), V1_FILES['app/helper/main.ts']);

  await rm(join(root, BASE, 'manifest.json'));
  const partial = await helperStatus({ root, platform: 'linux' });
  assert.equal(partial.state, 'tampered');
  assert.deepEqual(partial.problems, [
    `${BASE}/manifest.json is missing`,
    `left over: ${BASE}`,
    `left over: ${UNIT}`,
  ]);
  await writeFile(
    join(root, BASE, 'manifest.json'),
    '{"format":1,"platform":"linux","version":"0.1.0","uid":0,"installedAt":"x","dirs":["/"],"files":[]}',
  );
  assert.match(
    (await helperStatus({ root, platform: 'linux' })).problems[0] ?? '',
    /not trusted: it lists directory "\/"/,
  );
});

test('upgrade: new version directory, unit switched, service restarted, old version gone', async () => {
  const root = await newDir('root');
  await install(root, '0.1.0', V1_FILES);
  const plan = await planInstall({
    root,
    platform: 'linux',
    version: '0.2.0',
    uid: 1000,
    source: await fakeSource(V2_FILES),
  });
  assert.equal(plan.action, 'upgrade');
  assert.equal(plan.from, '0.1.0');
  assert.equal(plan.to, '0.2.0');
  const { ran, run } = recorder();
  const result = await applyPlan(plan, { root, runCommands: true, run });
  assert.deepEqual(ran, [
    ['systemctl', 'daemon-reload'],
    ['systemctl', 'enable', '--now', 'ngrokd-helper.service'],
    ['systemctl', 'restart', 'ngrokd-helper.service'],
  ]);
  assert.deepEqual(result.ran, ran);

  const paths = [...(await tree(root)).keys()];
  assert.deepEqual(
    paths.filter((p) => p.includes('0.1.0')),
    [],
  );
  assert.ok(paths.includes(`${BASE}/0.2.0/app/helper/new-only.ts`));
  const unit = await readFile(join(root, UNIT), 'utf8');
  assert.match(unit, /ngrokd-helper\/0\.2\.0\/bin\/node/);
  assert.doesNotMatch(unit, /0\.1\.0/);
  const status = await helperStatus({ root, platform: 'linux' });
  assert.equal(status.state, 'intact');
  assert.equal(status.version, '0.2.0');
});

test('uninstall stops the service first and leaves exactly what was there before', async () => {
  const root = await newDir('root');
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
  const before = await tree(root);
  await install(root, '0.1.0', V1_FILES);
  await install(root, '0.2.0', V2_FILES);

  const plan = await planUninstall({ root, platform: 'linux' });
  assert.equal(plan.action, 'uninstall');
  assert.equal(plan.from, '0.2.0');
  // A helper that is not running cannot be stopped: that is a warning, not a failure.
  const { ran, run } = recorder((argv) => argv.includes('disable'));
  const result = await applyPlan(plan, { root, runCommands: true, run });
  assert.deepEqual(ran, [
    ['systemctl', 'disable', '--now', 'ngrokd-helper.service'],
    [`${BASE}/0.2.0/bin/node`, `${BASE}/0.2.0/app/helper/main.ts`, '--teardown'],
    ['systemctl', 'daemon-reload'],
  ]);
  assert.equal(result.warnings.length, 1);
  assert.match(result.warnings[0] ?? '', /stop the helper/);
  assert.deepEqual(await tree(root), before);
  assert.equal((await helperStatus({ root, platform: 'linux' })).state, 'missing');

  // Uninstalling again finds nothing and still succeeds.
  const again = await applyPlan(await planUninstall({ root, platform: 'linux' }), { root });
  assert.deepEqual(again.skipped, [
    ['systemctl', 'disable', '--now', 'ngrokd-helper.service'],
    ['systemctl', 'daemon-reload'],
  ]);
  assert.deepEqual(await tree(root), before);
});

test('a failed install leaves nothing behind, and a failed upgrade leaves the old version working', async () => {
  const root = await newDir('root');
  const source = await fakeSource(V1_FILES);
  const plan = await planInstall({ root, platform: 'linux', version: '0.1.0', uid: 1000, source });
  await writeFile(source.files[2]?.from ?? '', 'changed after planning\n');
  await assert.rejects(applyPlan(plan, { root }), {
    code: 'HELPER_ERROR',
    message: /changed while the helper was being installed/,
  });
  assert.deepEqual([...(await tree(root)).keys()], []);

  await install(root, '0.1.0', V1_FILES);
  const v2 = await fakeSource(V2_FILES);
  const upgrade = await planInstall({ root, platform: 'linux', version: '0.2.0', uid: 1000, source: v2 });
  await rm(v2.files[1]?.from ?? '');
  await assert.rejects(applyPlan(upgrade, { root }), {
    code: 'HELPER_ERROR',
    message: /failed at step \d+ \(copy /,
  });
  const status = await helperStatus({ root, platform: 'linux' });
  assert.equal(status.state, 'intact');
  assert.equal(status.version, '0.1.0');
});

test('refuses to install below a directory other users can write', async () => {
  const root = await newDir('root');
  await mkdir(join(root, 'usr/local/lib'), { recursive: true });
  await chmod(join(root, 'usr/local'), 0o777);
  await assert.rejects(install(root, '0.1.0', V1_FILES), {
    code: 'HELPER_ERROR',
    message: /^\/usr\/local is not a root-owned directory closed to other users \(owner uid \d+, mode 777\)$/,
  });
  assert.deepEqual(await readdir(join(root, 'usr/local/lib')), []);
});

test('macOS: helper tools, a launchd plist, launchctl bootstrap; uninstall removes them and the log', async () => {
  const root = await newDir('root');
  const { result } = await install(root, '0.1.0', V1_FILES, 'darwin');
  assert.deepEqual(result.skipped, [
    ['/bin/launchctl', 'bootout', 'system/dev.ngrokd.helper'],
    ['/bin/launchctl', 'enable', 'system/dev.ngrokd.helper'],
    ['/bin/launchctl', 'bootstrap', 'system', '/Library/LaunchDaemons/dev.ngrokd.helper.plist'],
  ]);
  const plist = await readFile(join(root, '/Library/LaunchDaemons/dev.ngrokd.helper.plist'), 'utf8');
  const dir = '/Library/PrivilegedHelperTools/dev.ngrokd.helper/0.1.0';
  assert.ok(plist.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist'));
  assert.match(plist, /<key>Label<\/key>\n\t<string>dev\.ngrokd\.helper<\/string>/);
  const args = [...plist.matchAll(/\t\t<string>([^<]*)<\/string>/g)].map((m) => m[1]);
  assert.deepEqual(args, [
    `${dir}/bin/node`,
    `${dir}/app/helper/main.ts`,
    '--socket',
    '/var/run/ngrokd-helper.sock',
    '--allowed-uid',
    '1000',
  ]);
  assert.match(plist, /<key>RunAtLoad<\/key>\n\t<true\/>/);
  assert.match(plist, /<key>KeepAlive<\/key>\n\t<dict>\n\t\t<key>SuccessfulExit<\/key>\n\t\t<false\/>/);
  assert.match(
    plist,
    /<key>StandardErrorPath<\/key>\n\t<string>\/Library\/Logs\/ngrokd-helper\.log<\/string>/,
  );
  assert.equal((await helperStatus({ root, platform: 'darwin' })).state, 'intact');

  // launchd creates the log; uninstall removes it with everything else.
  await mkdir(join(root, 'Library/Logs'));
  await writeFile(join(root, 'Library/Logs/ngrokd-helper.log'), 'log\n');
  const uninstall = await applyPlan(await planUninstall({ root, platform: 'darwin' }), { root });
  assert.deepEqual(uninstall.skipped, [
    ['/bin/launchctl', 'bootout', 'system/dev.ngrokd.helper'],
    [`${dir}/bin/node`, `${dir}/app/helper/main.ts`, '--teardown'],
  ]);
  assert.deepEqual([...(await tree(root)).keys()], ['/Library', '/Library/Logs']);
});

test('inputs are validated; service commands never run for a temp root without an explicit runner', async () => {
  for (const bad of ['0.1', '0.1.0; rm -rf /', '../0.1.0', '0.1.0/x', '0.1.0-%n', '0.1.0 ', '0.1.0-a..b']) {
    assert.throws(() => validateVersion(bad), {
      code: 'HELPER_ERROR',
      message: /is not a version such as 0\.1\.0/,
    });
  }
  assert.equal(validateVersion('1.2.3-beta.1'), '1.2.3-beta.1');
  for (const bad of [-1, 1.5, 2 ** 32 - 1, Number.NaN])
    assert.throws(() => validateUid(bad), { code: 'HELPER_ERROR' });
  const root = await newDir('root');
  const plan = await planInstall({
    root,
    platform: 'linux',
    version: '0.1.0',
    uid: 1000,
    source: await fakeSource(V1_FILES),
  });
  await assert.rejects(applyPlan(plan, { root, runCommands: true }), /refusing to run service commands/);
  assert.deepEqual(await readdir(root), []);
});

test('the installer arguments round-trip and are checked', () => {
  const request: InstallerRequest = {
    command: 'install',
    root: '/tmp/a root',
    platform: 'linux',
    version: '0.1.0',
    uid: 1000,
    sourceRoot: "/opt/it's here",
    runtime: '/usr/bin/node',
  };
  assert.deepEqual(parseInstallerArgs(installerArgs(request)), request);
  assert.deepEqual(parseInstallerArgs(['status', '--root', '/x']), {
    command: 'status',
    root: '/x',
    platform: process.platform,
  });
  assert.throws(() => parseInstallerArgs(['install', '--version', '0.1.0']), /install needs --uid/);
  assert.throws(() => parseInstallerArgs(['install', '--uid', '1000', '--version', '1']), /not a version/);
  assert.throws(() => parseInstallerArgs(['status', '--root', 'relative']), /not an absolute path/);
  assert.throws(() => parseInstallerArgs(['status', '--evil']), /Unknown option '--evil'/);
  assert.throws(
    () => parseInstallerArgs(['status', '--platform', 'win32']),
    /cannot be installed on platform "win32"/,
  );
});

test('the checkout source finds runtime imports and refuses imports from outside the helper', async () => {
  assert.deepEqual(
    runtimeImports(
      "import koffi from 'koffi';\nimport type { X } from 'typeonly';\nimport {\n  a,\n} from '@scope/pkg/sub';\nexport { b } from './b.ts';\nconst m = await import('zod');\nimport 'node:fs';\n",
    ).sort(),
    ['./b.ts', '@scope/pkg/sub', 'koffi', 'node:fs', 'zod'],
  );
  assert.deepEqual(
    ['koffi', '@scope/pkg/sub', 'zod/v4', './x.ts', 'node:fs', 'fs', 'fs/promises'].map(packageName),
    ['koffi', '@scope/pkg', 'zod', null, null, null, null],
  );

  const checkout = await newDir('checkout');
  await mkdir(join(checkout, 'helper'));
  await mkdir(join(checkout, 'main/common'), { recursive: true });
  await mkdir(join(checkout, 'main/system'), { recursive: true });
  await mkdir(join(checkout, 'node_modules/dep'), { recursive: true });
  await writeFile(join(checkout, 'node_modules/dep/package.json'), '{"dependencies":{"missing":"1"}}');
  await writeFile(join(checkout, 'helper/main.ts'), "import x from 'dep';\n");
  await assert.rejects(checkoutSource({ root: checkout }), {
    code: 'HELPER_ERROR',
    message: /package "missing" needed by the helper/,
  });
  await writeFile(join(checkout, 'helper/main.ts'), "import { engine } from '../main/engine/engine.ts';\n");
  await assert.rejects(checkoutSource({ root: checkout }), {
    code: 'HELPER_ERROR',
    message: /helper\/main\.ts imports "\.\.\/main\/engine\/engine\.ts", which is not part of the helper/,
  });
});

test('the layout is the documented one', () => {
  assert.deepEqual(helperLayout('linux'), {
    platform: 'linux',
    baseDir: BASE,
    manifestPath: `${BASE}/manifest.json`,
    serviceFile: UNIT,
    serviceName: 'ngrokd-helper.service',
    socketPath: '/run/ngrokd-helper.sock',
    logFile: null,
  });
  assert.equal(helperLayout('darwin').serviceFile, '/Library/LaunchDaemons/dev.ngrokd.helper.plist');
  assert.equal(helperLayout('darwin').baseDir, '/Library/PrivilegedHelperTools/dev.ngrokd.helper');
});

test('a staged command runs nothing from the user copy, and refuses a runtime outside the staged tree', async () => {
  const { HelperInstaller, shellQuote } = await import('../../../helper/client/helper-installer.ts');
  const sourceRoot = "/tmp/ngrokd-helper-x/it's $(id)/helper";
  const stage = { manifest: '/tmp/ngrokd-helper-x/manifest.sha256', manifestSha256: 'ab'.repeat(32) };
  const installer = new HelperInstaller({
    currentVersion: '0.1.0',
    sourceRoot,
    stage,
    runtime: join(sourceRoot, 'bin/node'),
    platform: 'linux',
    stageParent: '/var/cache',
  });
  const request: InstallerRequest = {
    command: 'install',
    root: '/',
    platform: 'linux',
    version: '0.1.0',
    uid: 1000,
    sourceRoot,
    runtime: join(sourceRoot, 'bin/node'),
  };
  const command = installer.command(request);
  assert.equal(
    command.split(shellQuote(sourceRoot).slice(0, -1)).length - 1,
    1,
    'the user copy is only copied from',
  );
  assert.ok(command.includes(`cp -R ${shellQuote(`${sourceRoot}/.`)} "$ngrokd_stage/tree"`));
  assert.ok(command.includes(`mktemp -d '/var/cache/ngrokd-helper-stage.XXXXXXXXXX'`));
  assert.ok(
    command.includes(`printf '%s  %s\\n' '${'ab'.repeat(32)}' "$ngrokd_stage"/manifest | sha256sum -c`),
  );
  assert.ok(command.endsWith(`'--source' "$ngrokd_stage/tree" '--runtime' "$ngrokd_stage/tree"'/bin/node'`));
  const darwin = new HelperInstaller({ currentVersion: '0.1.0', sourceRoot, stage, platform: 'darwin' });
  assert.match(
    darwin.command(request),
    /mktemp -d '\/var\/root\/ngrokd-helper-stage\.X+'.*shasum -a 256 -c --strict/,
  );

  assert.throws(
    () => new HelperInstaller({ currentVersion: '0.1.0', sourceRoot, stage, installerNode: '/usr/bin/node' }),
    { code: 'HELPER_ERROR', message: /installerNode "\/usr\/bin\/node" is not the staged ".*\/bin\/node"/ },
  );
});

test("the staged command's refusals become one error naming every offending file", async () => {
  const { stageFailure } = await import('../../../helper/client/helper-stage.ts');
  const context = {
    sourceRoot: '/tmp/copy/helper',
    manifest: '/tmp/copy/manifest.sha256',
    parent: '/var/cache',
  };
  assert.equal(stageFailure('{"ok":true}\n', context), null);
  const error = stageFailure(
    [
      'ngrokd-stage: not-regular: helper/main.ts',
      'ngrokd-stage: unexpected: helper/node_modules/zod/index.js',
      'ngrokd-stage: modified: bin/node',
      'ngrokd-stage: checksum',
      '',
    ].join('\n'),
    context,
  );
  assert.equal(error?.code, 'HELPER_ERROR');
  assert.equal(
    error?.message,
    'the helper files in "/tmp/copy/helper" changed after ngrokd prepared them, so nothing was run or installed as root: "helper/main.ts" is not a regular file, "helper/node_modules/zod/index.js" was added, "bin/node" was modified',
  );
  assert.match(
    stageFailure('ngrokd-stage: mktemp\n', context)?.message ?? '',
    /staging directory in \/var\/cache/,
  );
  assert.match(
    stageFailure('ngrokd-stage: copy\n', context)?.message ?? '',
    /cannot copy "\/tmp\/copy\/helper"/,
  );
});
