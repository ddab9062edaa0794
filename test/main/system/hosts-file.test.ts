import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AtomicWriteFs } from '../../../main/system/atomic-write.ts';
import { HostsSection } from '../../../main/system/hosts-file.ts';
import { rootOnly } from '../../support/root-only.ts';

const root = await mkdtemp(join(tmpdir(), 'ngrokd-hosts-'));
after(() => rm(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory holding a hosts file with exactly these bytes (none: no file). */
async function hostsFile(content?: string | Buffer): Promise<string> {
  const dir = join(root, `case-${++counter}`);
  await mkdir(dir);
  const path = join(dir, 'hosts');
  if (content !== undefined) await writeFile(path, content);
  return path;
}

function section(path: string, interfaceName = 'ngrokd0', subnet = '10.107.0.0/16') {
  return new HostsSection({ path, interfaceName, subnet });
}

const ENTRIES = [
  { ip: '10.107.0.3', hostname: 'web.prod' },
  { ip: '10.107.0.2', hostname: 'api.prod' },
];

// Tabs, comments, blank lines, UTF-8, a byte that is not UTF-8, and no final newline.
const NASTY = Buffer.concat([
  Buffer.from('127.0.0.1\tlocalhost\n# comment with ünïcödé ✓\n\n::1 ip6-localhost  # trailing  \n'),
  Buffer.from([0x31, 0x2e, 0x32, 0x2e, 0x33, 0x2e, 0x34, 0x20, 0xff, 0xfe, 0x2e, 0x6c, 0x61, 0x6e]),
]);

test('the section is appended to a nasty file and removed again byte for byte', async () => {
  const path = await hostsFile(NASTY);
  const hosts = section(path);
  assert.deepEqual(await hosts.setHosts(ENTRIES), { changed: true });
  const expected = Buffer.concat([
    NASTY,
    Buffer.from(
      '\n# BEGIN ngrokd managed section\n10.107.0.2 api.prod\n10.107.0.3 web.prod\n# END ngrokd managed section',
    ),
  ]);
  assert.deepEqual(await readFile(path), expected);
  assert.deepEqual(await hosts.read(), [
    { ip: '10.107.0.2', hostname: 'api.prod' },
    { ip: '10.107.0.3', hostname: 'web.prod' },
  ]);
  assert.deepEqual(await hosts.remove(), { changed: true });
  assert.deepEqual(await readFile(path), NASTY);
  assert.deepEqual(await hosts.remove(), { changed: false });
});

test('a CRLF file gets a CRLF section, and lines after the section survive an update', async () => {
  const original = '127.0.0.1 localhost\r\n# keep me\r\n';
  const path = await hostsFile(original);
  const hosts = section(path);
  await hosts.setHosts(ENTRIES);
  await writeFile(path, `${await readFile(path, 'latin1')}10.0.0.9 after.example\r\n`, 'latin1');
  await hosts.setHosts([{ ip: '10.107.0.9', hostname: 'db.prod' }, ...ENTRIES]);
  assert.equal(
    await readFile(path, 'latin1'),
    '127.0.0.1 localhost\r\n# keep me\r\n# BEGIN ngrokd managed section\r\n10.107.0.2 api.prod\r\n' +
      '10.107.0.9 db.prod\r\n10.107.0.3 web.prod\r\n# END ngrokd managed section\r\n10.0.0.9 after.example\r\n',
  );
  await hosts.remove();
  assert.equal(await readFile(path, 'latin1'), `${original}10.0.0.9 after.example\r\n`);
});

test('an empty or missing file gets a section and a removal restores it', async () => {
  const empty = await hostsFile('');
  await section(empty).setHosts(ENTRIES.slice(0, 1));
  assert.equal(
    await readFile(empty, 'utf8'),
    '# BEGIN ngrokd managed section\n10.107.0.3 web.prod\n# END ngrokd managed section\n',
  );
  await section(empty).remove();
  assert.equal(await readFile(empty, 'utf8'), '');

  const missing = await hostsFile();
  assert.deepEqual(await section(missing).setHosts([]), { changed: false });
  await assert.rejects(stat(missing), { code: 'ENOENT' });
  await section(missing).setHosts(ENTRIES);
  assert.equal((await stat(missing)).mode & 0o777, 0o644);
});

test('instances with different interface names keep to their own sections', async () => {
  const other =
    '127.0.0.1 localhost\n# BEGIN ngrokd managed section (ngrokd1)\n10.108.0.2 other.prod\n' +
    '# END ngrokd managed section (ngrokd1)\n';
  const path = await hostsFile(other);
  const mine = section(path);
  const theirs = section(path, 'ngrokd1', '10.108.0.0/16');
  assert.equal(theirs.beginMarker, '# BEGIN ngrokd managed section (ngrokd1)');
  assert.deepEqual(await mine.read(), []);
  await mine.setHosts(ENTRIES);
  assert.equal(
    await readFile(path, 'utf8'),
    `${other}# BEGIN ngrokd managed section\n10.107.0.2 api.prod\n10.107.0.3 web.prod\n# END ngrokd managed section\n`,
  );
  await theirs.setHosts([{ ip: '10.108.0.7', hostname: 'new.prod' }]);
  assert.deepEqual(await theirs.read(), [{ ip: '10.108.0.7', hostname: 'new.prod' }]);
  assert.equal((await mine.read()).length, 2);
  await mine.remove();
  await theirs.remove();
  assert.equal(await readFile(path, 'utf8'), '127.0.0.1 localhost\n');
});

test('a second identical write does not touch the file', async () => {
  const path = await hostsFile('127.0.0.1 localhost\n');
  const hosts = section(path);
  await hosts.setHosts(ENTRIES);
  const before = await stat(path);
  assert.deepEqual(await hosts.setHosts([...ENTRIES].reverse()), { changed: false });
  assert.deepEqual(await section(path).setHosts(ENTRIES), { changed: false });
  const afterWrite = await stat(path);
  assert.equal(afterWrite.ino, before.ino);
  assert.equal(afterWrite.mtimeMs, before.mtimeMs);
});

test('through a symlink the target is updated and the link stays', async () => {
  const target = await hostsFile('127.0.0.1 localhost\n');
  const link = join(root, `link-${++counter}`);
  await symlink(target, link);
  await section(link).setHosts(ENTRIES);
  assert.ok((await lstat(link)).isSymbolicLink());
  assert.match(await readFile(target, 'utf8'), /10\.107\.0\.3 web\.prod/);
  assert.deepEqual(await readdir(join(target, '..')), ['hosts']);
});

test(
  'owner and mode of the existing file are kept',
  { skip: rootOnly('it chowns a file to another uid') },
  async () => {
    const path = await hostsFile('127.0.0.1 localhost\n');
    await chmod(path, 0o640);
    await chown(path, 1234, 5678);
    await section(path).setHosts(ENTRIES);
    const after = await stat(path);
    assert.equal(after.mode & 0o7777, 0o640);
    assert.equal(after.uid, 1234);
    assert.equal(after.gid, 5678);
  },
);

test('broken sections are refused with line numbers and the file is left alone', async () => {
  const B = '# BEGIN ngrokd managed section';
  const E = '# END ngrokd managed section';
  const cases: [string, RegExp][] = [
    [`a b.c\n${B}\n10.107.0.2 x.prod\n`, /line 2 has "# BEGIN ngrokd managed section" but no/],
    [`a b.c\n10.107.0.2 x.prod\n${E}\n`, /line 3 has "# END ngrokd managed section" without a BEGIN/],
    [`${B}\n${B}\n${E}\n`, /appears twice, on lines 1 and 2/],
    [`${B}\n${E}\n${B}\n${E}\n`, /appears twice, on lines 1 and 3/],
    [`${B}\n${E}\n${E}\n`, /"# END ngrokd managed section" appears twice, on lines 2 and 3/],
    [
      `x\n${B}\n# BEGIN ngrokd managed section (ngrokd1)\n1.2.3.4 u.prod\n# END ngrokd managed section (ngrokd1)\n${E}\n`,
      /line 3 has "# BEGIN ngrokd managed section \(ngrokd1\)" nested inside the section starting on line 2/,
    ],
  ];
  for (const [content, message] of cases) {
    const path = await hostsFile(content);
    const hosts = section(path);
    for (const attempt of [() => hosts.setHosts(ENTRIES), () => hosts.remove(), () => hosts.read()]) {
      await assert.rejects(attempt(), (err: NodeJS.ErrnoException & { fix?: string }) => {
        assert.equal(err.code, 'HOSTS_FILE_BROKEN');
        assert.match(err.message, message);
        assert.ok(err.message.includes(path));
        assert.match(err.fix ?? '', /by hand/);
        return true;
      });
    }
    assert.equal(await readFile(path, 'utf8'), content);
  }
});

test('invalid entries are refused naming the value, before anything is written', async () => {
  const original = '127.0.0.1 localhost\n';
  const path = await hostsFile(original);
  const hosts = section(path);
  const bad: [{ ip: string; hostname: string }, string, RegExp][] = [
    [
      { ip: '10.107.0.2', hostname: 'evil.prod\n1.2.3.4 bank.com' },
      'HOSTNAME_INVALID',
      /"evil\.prod\\n1\.2\.3\.4 bank\.com"/,
    ],
    [{ ip: '10.107.0.2', hostname: 'a.prod#x' }, 'HOSTNAME_INVALID', /"a\.prod#x"/],
    [{ ip: '10.107.0.2', hostname: 'a b.prod' }, 'HOSTNAME_INVALID', /"a b\.prod"/],
    [{ ip: '10.107.0.2', hostname: 'a\0.prod' }, 'HOSTNAME_INVALID', /"a\\u0000\.prod"/],
    [{ ip: '10.107.0.2', hostname: `${'a'.repeat(64)}.prod` }, 'HOSTNAME_INVALID', /64 characters/],
    [{ ip: '10.107.0.2', hostname: 'localhost' }, 'HOSTNAME_INVALID', /"localhost"/],
    [
      { ip: '1.2.3.4', hostname: 'a.prod' },
      'SUBNET_INVALID',
      /1\.2\.3\.4 for a\.prod is outside the subnet 10\.107\.0\.0\/16/,
    ],
    [{ ip: '10.107.0.2\n', hostname: 'a.prod' }, 'SUBNET_INVALID', /"10\.107\.0\.2\\n"/],
    [{ ip: '10.107.0.0002', hostname: 'a.prod' }, 'SUBNET_INVALID', /"10\.107\.0\.0002"/],
  ];
  for (const [entry, code, message] of bad) {
    await assert.rejects(hosts.setHosts([ENTRIES[0] as (typeof ENTRIES)[0], entry]), { code, message });
  }
  await assert.rejects(
    hosts.setHosts([
      { ip: '10.107.0.2', hostname: 'a.prod' },
      { ip: '10.107.0.3', hostname: 'A.prod' },
    ]),
    { code: 'HOSTNAME_INVALID', message: /a\.prod is listed twice/ },
  );
  assert.throws(() => section(path, 'bad name\n'), { code: 'CONFIG_INVALID' });
  assert.throws(() => section(path, 'ngrokd0', '10.107.0.1/16'), { code: 'SUBNET_INVALID' });
  assert.equal(await readFile(path, 'utf8'), original);
});

/** Real fs calls, except that writing a temp file or renaming it fails like a full disk. */
function failingFs(at: 'write' | 'rename'): AtomicWriteFs {
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  return {
    ...fsp,
    open: (async (...args: Parameters<typeof fsp.open>) => {
      const handle = await fsp.open(...args);
      if (at === 'write' && String(args[0]).endsWith('.tmp')) {
        handle.writeFile = async () => {
          await handle.write(Buffer.from('half a hosts fi'));
          throw enospc();
        };
      }
      return handle;
    }) as typeof fsp.open,
    rename: async () => {
      if (at === 'rename') throw enospc();
    },
  };
}

test('a failed write leaves the old file untouched and no temp file behind', async () => {
  for (const at of ['write', 'rename'] as const) {
    const original = '127.0.0.1 localhost\n';
    const path = await hostsFile(original);
    const hosts = new HostsSection({
      path,
      interfaceName: 'ngrokd0',
      subnet: '10.107.0.0/16',
      fs: failingFs(at),
    });
    await assert.rejects(hosts.setHosts(ENTRIES), {
      code: 'HOSTS_FILE_WRITE',
      message: new RegExp(`${path.replace(/[.]/g, '\\.')}: ENOSPC`),
    });
    assert.equal(await readFile(path, 'utf8'), original);
    assert.deepEqual(await readdir(join(path, '..')), ['hosts']);
    // The section still works afterwards with a healthy disk.
    assert.deepEqual(await section(path).setHosts(ENTRIES), { changed: true });
  }
});

test('concurrent writes are serialised: the last call wins', async () => {
  const path = await hostsFile('127.0.0.1 localhost\n');
  const hosts = section(path);
  await Promise.all([hosts.setHosts(ENTRIES), hosts.setHosts([{ ip: '10.107.0.5', hostname: 'last.prod' }])]);
  assert.deepEqual(await hosts.read(), [{ ip: '10.107.0.5', hostname: 'last.prod' }]);
});
