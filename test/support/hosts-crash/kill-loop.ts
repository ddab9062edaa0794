/**
 * The kill -9 loop shared by the crash tests: start the writer, kill it at a point of its rewrite
 * cycle, run `recover` (what the next start does), and check the file is one of the allowed states.
 * Kill points are spread by waiting a growing number of the writer's own progress reports' worth of
 * time, and the loop samples until it has seen at least two distinct states (bounded by count), so
 * the result does not depend on how fast a loaded machine runs the writer.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const WRITER = fileURLToPath(new URL('./hosts-writer.ts', import.meta.url));
const MAX_ROUNDS = 60;
const ROUNDS_AFTER_SECOND_STATE = 6;

export interface KillLoopResult {
  rounds: number;
  torn: { round: number; bytes: number }[];
  states: number;
}

export async function killLoop(options: {
  path: string;
  allowed: ReadonlySet<string>;
  journalDir?: string;
  recover?: () => Promise<void>;
}): Promise<KillLoopResult> {
  const states = new Set<string>();
  const torn: { round: number; bytes: number }[] = [];
  let round = 0;
  let extra = 0;
  for (; round < MAX_ROUNDS && extra < ROUNDS_AFTER_SECOND_STATE; round++) {
    const args = [WRITER, options.path, ...(options.journalDir === undefined ? [] : [options.journalDir])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 5 + ((round * 37) % 200)));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await options.recover?.();
    const content = readFileSync(options.path, 'latin1');
    if (!options.allowed.has(content)) torn.push({ round, bytes: content.length });
    states.add(content);
    if (states.size >= 2) extra += 1;
  }
  return { rounds: round, torn, states: states.size };
}
