/**
 * kill -9 in the middle of a hosts-file write leaves the old file or the new one, never a mix:
 * a child rewrites the managed section back and forth and is killed at random moments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostsSection } from '../../main/system/hosts-file.ts';
import { CRASH_SETS } from './crash/hosts-sets.ts';

const WRITER = fileURLToPath(new URL('./crash/hosts-writer.ts', import.meta.url));
const USER_LINES = '127.0.0.1 localhost\r\n# printer\r\n192.168.1.20\tprinter.lan\r\n::1 ip6-localhost';

test('kill -9 during hosts-section writes never leaves a torn file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-crash-'));
  try {
    const path = join(dir, 'hosts');
    // The exact bytes each possible state has, computed with the same code on a scratch copy.
    const allowed = new Set<string>([USER_LINES]);
    const scratch = join(dir, 'scratch');
    for (const set of CRASH_SETS) {
      writeFileSync(scratch, USER_LINES);
      await new HostsSection({ path: scratch, interfaceName: 'ngrokd0', subnet: '10.107.0.0/16' }).setHosts(
        set,
      );
      allowed.add(readFileSync(scratch, 'latin1'));
    }
    writeFileSync(path, USER_LINES);
    const states = new Set<string>();
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, [WRITER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 20 + ((round * 37) % 120)));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const content = readFileSync(path, 'latin1');
      assert.ok(allowed.has(content), `round ${round}: torn hosts file of ${content.length} bytes`);
      states.add(content);
    }
    assert.ok(states.size >= 2, 'the kills landed at different points of the rewrite cycle');
    // A writer that starts after a crash still works (leftover temp files do not get in its way).
    await new HostsSection({ path, interfaceName: 'ngrokd0', subnet: '10.107.0.0/16' }).setHosts([]);
    assert.equal(readFileSync(path, 'latin1'), USER_LINES);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
