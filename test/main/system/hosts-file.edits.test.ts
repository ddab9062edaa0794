/**
 * The user edits /etc/hosts while ngrokd runs: a deleted section comes back, and lines appended
 * while the section is being rewritten are never lost.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostsSection } from '../../../main/system/hosts-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'ngrokd-hosts-edits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const USER_LINES = '127.0.0.1 localhost\n# mine\n';
const ENTRIES = [
  { ip: '10.107.0.2', hostname: 'my-api.ngrok.app' },
  { ip: '10.107.0.3', hostname: 'web.prod' },
];
const section = (path: string, watchIntervalMs = 0) =>
  new HostsSection({ path, interfaceName: 'ngrokd0', subnet: '10.107.0.0/16', watchIntervalMs });

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(done(), `${what} within 20 s`);
}

test('a section the user deleted while ngrokd runs is written again; their own edit stays', async () => {
  const path = join(dir, 'deleted');
  writeFileSync(path, USER_LINES);
  const hosts = section(path, 50);
  try {
    await hosts.setHosts(ENTRIES);
    const published = readFileSync(path, 'utf8');
    assert.match(published, /10\.107\.0\.2 my-api\.ngrok\.app/);
    // The user removes our section and adds a line of their own, in one save.
    writeFileSync(path, `${USER_LINES}10.0.0.9 nas.home\n`);
    await until('the section is back', () => readFileSync(path, 'utf8').includes('my-api.ngrok.app'));
    const restored = readFileSync(path, 'utf8');
    assert.ok(restored.startsWith(`${USER_LINES}10.0.0.9 nas.home\n`), restored);
    assert.match(restored, /# BEGIN ngrokd managed section\n10\.107\.0\.2 my-api\.ngrok\.app\n/);
  } finally {
    hosts.close();
  }
});

test('after the section is removed, ngrokd stops watching: a later edit is left alone', async () => {
  const path = join(dir, 'removed');
  writeFileSync(path, USER_LINES);
  const hosts = section(path, 50);
  await hosts.setHosts(ENTRIES);
  await hosts.remove();
  writeFileSync(path, `${USER_LINES}10.0.0.9 nas.home\n`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(readFileSync(path, 'utf8'), `${USER_LINES}10.0.0.9 nas.home\n`);
});

test('lines appended with >> while the section is rewritten are all kept (loss rate 0)', async () => {
  const path = join(dir, 'appends');
  writeFileSync(path, USER_LINES);
  const hosts = section(path);
  const APPENDS = 3000;
  const appender = spawn(
    'sh',
    [
      '-c',
      `i=1; while [ $i -le ${APPENDS} ]; do echo "10.0.0.1 u$i.lan" >> "$1"; i=$((i+1)); done`,
      'sh',
      path,
    ],
    { stdio: 'ignore' },
  );
  const finished = new Promise<void>((resolve) => appender.once('exit', () => resolve()));
  let rewrites = 0;
  let done = false;
  void finished.then(() => (done = true));
  const sets = [ENTRIES, ENTRIES.slice(0, 1), []];
  // Rewrite until the appender is done, and at least 34 times.
  while (!done || rewrites < 34) {
    if ((await hosts.setHosts(sets[rewrites % sets.length] ?? [])).changed) rewrites += 1;
  }
  await finished;
  await hosts.setHosts(ENTRIES);
  const text = readFileSync(path, 'utf8');
  const kept = new Set(text.split('\n').filter((l) => /^10\.0\.0\.1 u\d+\.lan$/.test(l)));
  const lost = APPENDS - kept.size;
  assert.equal(
    lost,
    0,
    `${lost} of ${APPENDS} appended lines lost over ${rewrites} rewrites (rate ${lost / APPENDS})`,
  );
  assert.ok(text.startsWith(USER_LINES));
  assert.equal(text.split('# BEGIN ngrokd managed section').length, 2, 'exactly one section');
});
