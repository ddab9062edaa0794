/**
 * The update feed, end to end without a network or the Electron binary: electron-builder's own
 * update-info code (app-builder-lib's createUpdateInfoTasks / writeUpdateInfoFiles, as `npm run
 * dist` runs them) writes latest-linux.yml and latest-mac.yml for artifacts built with our
 * electron-builder.yml `publish` feed, and electron-updater's own provider for the app-update.yml
 * electron-builder writes into the app reads them over a stand-in HTTP executor serving that
 * directory, and picks the file it would download.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../../main/electron/build.ts';

const require = createRequire(import.meta.url);

interface PublishConfig {
  provider: string;
  url?: string;
  channel?: string;
}
interface UpdateInfo {
  version: string;
  files: Array<{ url: string; sha512: string }>;
  path: string;
  sha512: string;
  releaseDate: string;
}
interface ResolvedFile {
  url: URL;
  info: { url: string; sha512: string };
}
interface ProviderLike {
  getLatestVersion(): Promise<UpdateInfo>;
  resolveFiles(info: UpdateInfo): ResolvedFile[];
}

const builder = {
  ...(require('app-builder-lib/out/publish/updateInfoBuilder.js') as {
    createUpdateInfoTasks(event: object, publishConfigs: PublishConfig[]): Promise<object[]>;
    writeUpdateInfoFiles(tasks: object[], packager: object): Promise<void>;
  }),
  Platform: (require('app-builder-lib/out/core.js') as { Platform: Record<'LINUX' | 'MAC', object> })
    .Platform,
  Arch: (require('builder-util') as { Arch: Record<'x64' | 'arm64', number> }).Arch,
  serializeToYaml: (require('builder-util') as { serializeToYaml(o: object): string }).serializeToYaml,
};
const updater = {
  createClient: (
    require('electron-updater/out/providerFactory.js') as {
      createClient(data: object, updater: object, runtimeOptions: object): ProviderLike;
    }
  ).createClient,
  findFile: (
    require('electron-updater/out/providers/Provider.js') as {
      findFile(files: ResolvedFile[], extension: string, not?: string[]): ResolvedFile | null | undefined;
    }
  ).findFile,
};

const VERSION = '0.2.0';

function feedConfig(): { publish: PublishConfig[]; appId: string } {
  const yml = parse(readFileSync(join(PROJECT_ROOT, 'electron-builder.yml'), 'utf8')) as {
    publish: PublishConfig[];
    appId: string;
    mac: { target: Array<{ target: string }> };
  };
  assert.ok(
    yml.mac.target.some((t) => t.target === 'zip'),
    'macOS updates install from a zip: electron-builder must build one',
  );
  return yml;
}

/** The parts of a PlatformPackager that electron-builder's update-info code reads. */
function packager(platform: 'LINUX' | 'MAC', config: object) {
  return {
    platform: builder.Platform[platform],
    appInfo: { version: VERSION },
    platformSpecificBuildOptions: {},
    config,
    info: {
      metadata: { dependencies: { 'electron-updater': '^6.8.10' } },
      emitArtifactCreated: async () => undefined,
    },
    getResource: async () => null,
    emitArtifactCreated: async () => undefined,
  };
}

/** Write the feed for `artifacts` as `npm run dist` would, into `dir`. */
async function writeFeed(
  dir: string,
  platform: 'LINUX' | 'MAC',
  artifacts: Array<{ name: string; arch: 'x64' | 'arm64' }>,
): Promise<void> {
  const config = feedConfig();
  const p = packager(platform, config);
  const tasks: object[] = [];
  for (const artifact of artifacts) {
    const file = join(dir, artifact.name);
    writeFileSync(file, randomBytes(4096));
    tasks.push(
      ...(await builder.createUpdateInfoTasks(
        {
          packager: p,
          file,
          arch: builder.Arch[artifact.arch],
          target: { outDir: dir },
          safeArtifactName: artifact.name,
        },
        config.publish,
      )),
    );
  }
  await builder.writeUpdateInfoFiles(tasks, p);
}

/** electron-updater's provider for our app-update.yml, reading files from `dir` as the feed's server. */
function provider(dir: string, platform: 'linux' | 'darwin', requested: string[]): ProviderLike {
  const { publish } = feedConfig();
  const first = publish[0];
  assert.ok(first, 'a publish feed is configured');
  // What electron-builder writes as resources/app-update.yml (PublishManager), read back by the app.
  const appUpdateYml = parse(
    builder.serializeToYaml({ ...first, updaterCacheDirName: 'ngrokd-desktop-updater' }),
  ) as object;
  const base = new URL(first.url ?? '');
  const executor = {
    request: async (options: { protocol?: string; hostname?: string; path?: string }) => {
      const url = new URL(`${options.protocol ?? 'https:'}//${options.hostname ?? ''}${options.path ?? ''}`);
      requested.push(url.href);
      assert.equal(url.origin, base.origin, 'only the configured feed is asked');
      const name = url.pathname.slice(base.pathname.length);
      return readFileSync(join(dir, name), 'utf8');
    },
  };
  return updater.createClient(
    appUpdateYml,
    { channel: null, isAddNoCacheQuery: false },
    {
      isUseMultipleRangeRequest: false,
      platform,
      executor,
    },
  );
}

test('the publish feed is a generic HTTPS URL on the latest channel', () => {
  const { publish, appId } = feedConfig();
  assert.equal(appId, 'dev.ngrokd.desktop');
  assert.equal(publish.length, 1);
  assert.equal(publish[0]?.provider, 'generic');
  assert.match(
    publish[0]?.url ?? '',
    /^https:\/\/[^/]+\/.*\/$/,
    'https, ending in / (files are relative to it)',
  );
  assert.equal(publish[0]?.channel, 'latest');
});

test('latest-linux.yml as electron-builder writes it is what electron-updater reads and downloads from', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-feed-linux-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await writeFeed(dir, 'LINUX', [{ name: `ngrokd-${VERSION}.AppImage`, arch: 'x64' }]);
  const yml = parse(readFileSync(join(dir, 'latest-linux.yml'), 'utf8')) as UpdateInfo;
  assert.equal(yml.version, VERSION);
  assert.equal(yml.files[0]?.url, `ngrokd-${VERSION}.AppImage`);
  assert.match(yml.files[0]?.sha512 ?? '', /^[A-Za-z0-9+/]{86}==$/, 'sha512, base64');

  const requested: string[] = [];
  const feed = provider(dir, 'linux', requested);
  const info = await feed.getLatestVersion();
  assert.equal(info.version, VERSION);
  const { url: base } = feedConfig().publish[0] ?? {};
  assert.deepEqual(requested, [`${base}latest-linux.yml`]);
  const file = updater.findFile(feed.resolveFiles(info), 'AppImage', ['rpm', 'deb']);
  assert.equal(file?.url.href, `${base}ngrokd-${VERSION}.AppImage`);
  assert.equal(file?.info.sha512, yml.files[0]?.sha512);
});

test('latest-mac.yml lists both architectures; each Mac downloads its own zip', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-feed-mac-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await writeFeed(dir, 'MAC', [
    { name: `ngrokd-${VERSION}-arm64-mac.zip`, arch: 'arm64' },
    { name: `ngrokd-${VERSION}-mac.zip`, arch: 'x64' },
  ]);
  const yml = parse(readFileSync(join(dir, 'latest-mac.yml'), 'utf8')) as UpdateInfo;
  assert.deepEqual(yml.files.map((f) => f.url).sort(), [
    `ngrokd-${VERSION}-arm64-mac.zip`,
    `ngrokd-${VERSION}-mac.zip`,
  ]);

  const requested: string[] = [];
  const feed = provider(dir, 'darwin', requested);
  const info = await feed.getLatestVersion();
  assert.match(requested[0] ?? '', /\/latest-mac\.yml$/);
  const files = feed.resolveFiles(info);
  // MacUpdater's choice: on Apple silicon the arm64 zip, on Intel the other one.
  const arm = updater.findFile(
    files.filter((f) => f.url.pathname.includes('arm64')),
    'zip',
    ['pkg', 'dmg'],
  );
  const intel = updater.findFile(
    files.filter((f) => !f.url.pathname.includes('arm64')),
    'zip',
    ['pkg', 'dmg'],
  );
  assert.match(arm?.url.href ?? '', /ngrokd-0\.2\.0-arm64-mac\.zip$/);
  assert.match(intel?.url.href ?? '', /ngrokd-0\.2\.0-mac\.zip$/);
});
