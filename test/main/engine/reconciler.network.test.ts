/**
 * The reconciler's subnet watch, with the real engine in user mode against the simulator and
 * checkNetwork answered by the test: a conflict that appears while running becomes a SUBNET_CONFLICT
 * problem in status (the state degraded, endpoints still served), stays one problem with a stable
 * time while it lasts, and clears when it is gone. A failed check is not a conflict.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UserFacingError } from '../../../main/common/errors.ts';
import type { InterfaceSpec } from '../../../main/common/privileged.ts';
import { Engine } from '../../../main/engine/engine.ts';
import { silentLogger } from '../../../main/engine/log.ts';
import { UserModeOps } from '../../../main/engine/user-mode.ts';
import { startSimulator, type Simulator } from '../../sim/simulator.ts';
import { userModeSetup } from '../../support/user-mode-engine.ts';

const SUBNET = '127.151.0.0/16';

class WatchedOps extends UserModeOps {
  answer: UserFacingError | Error | null = null;
  readonly asked: InterfaceSpec[] = [];
  override async checkNetwork(spec: InterfaceSpec): Promise<UserFacingError | null> {
    this.asked.push(spec);
    if (this.answer instanceof Error) throw this.answer;
    return this.answer === null ? null : { ...this.answer, at: new Date().toISOString() };
  }
}

const CONFLICT: UserFacingError = {
  code: 'SUBNET_CONFLICT',
  message: 'net.subnet 127.151.0.0/16 overlaps 127.151.128.0/17 (a route via interface "tun0")',
  fix: 'Set net.subnet to 10.108.0.0/16 (free on this machine) and restart ngrokd, or remove what overlaps.',
};

let sim: Simulator;
let dir: string;
let engine: Engine;
let ops: WatchedOps;

before(async () => {
  sim = await startSimulator({ endpoints: [{ url: 'tcp://postgres.db:5432' }] });
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-network-watch-'));
});

after(async () => {
  await engine.stop();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startEngine(networkCheckIntervalMs: number): Promise<void> {
  const { config, hostsPath } = userModeSetup(dir, sim, {
    subnet: SUBNET,
    hostsBefore: '127.0.0.1 localhost\n',
  });
  ops = new WatchedOps({ subnet: SUBNET, hostsPath, interfaceName: config.net.interface_name });
  engine = new Engine({ config, ops, logger: silentLogger, networkCheckIntervalMs });
  await engine.start();
}

/** Poll until `check` holds (bounded: a loaded machine is slow, never wrong). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const conflicts = () => engine.status().errors.filter((e) => e.code === 'SUBNET_CONFLICT');

test('every reconcile pass checks the interface, by its name and subnet', async () => {
  await startEngine(3_600_000); // no timer in the way
  assert.deepEqual(ops.asked, [{ name: 'ngrokd0', subnet: SUBNET }], 'the first pass checked');
  assert.equal(engine.status().state, 'running');
  await engine.reconcile();
  assert.equal(ops.asked.length, 2);
  await engine.stop();
});

test('a conflict that appears is shown with its fix; the endpoints keep being served', async () => {
  await startEngine(20);
  ops.answer = CONFLICT;
  await eventually(() => conflicts().length === 1, 'SUBNET_CONFLICT in status');
  const [shown] = conflicts();
  assert.equal(shown?.message, CONFLICT.message);
  assert.equal(shown?.fix, CONFLICT.fix);
  const status = engine.status();
  assert.equal(status.state, 'degraded');
  assert.ok(
    engine.endpoints().every((e) => e.listening),
    'still listening',
  );

  // It lasts: still one problem, and its time is when it began (the state feed stays quiet).
  const seen = ops.asked.length;
  await eventually(() => ops.asked.length >= seen + 3, 'more checks');
  assert.deepEqual(conflicts(), [shown]);
});

test('a check that fails keeps what was known; the conflict clears once it is gone', async () => {
  ops.answer = new Error('helper reconnecting');
  const seen = ops.asked.length;
  await eventually(() => ops.asked.length >= seen + 2, 'failing checks');
  assert.equal(conflicts().length, 1);
  ops.answer = null;
  await eventually(() => conflicts().length === 0, 'the conflict to clear');
  assert.equal(engine.status().state, 'running');
});
