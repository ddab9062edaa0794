/**
 * Run a root scenario (a .ts file) in a private network namespace (`unshare -n`) with a fresh temp
 * directory as its argument; the scenario prints one JSON object as its last line. Asynchronous, so
 * the test runner stays responsive; the directory is removed afterwards (its path is returned for
 * assertions about paths the scenario reported).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function runNetnsScenario<T extends { error?: string }>(
  scenario: string,
  prefix: string,
): Promise<{ dir: string; results: T }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const child = spawn('unshare', ['-n', process.execPath, scenario, dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, `the scenario failed (exit ${code}):\n${stderr}`);
    const results = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
    assert.equal(results.error, undefined, `the scenario threw:\n${results.error}\n${stderr}`);
    return { dir, results };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
