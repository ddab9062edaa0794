/** Run the real engine in user mode against the simulator, in a temp directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '../sim/simulator.ts';
import type { Engine } from '../../main/engine/engine.ts';
import type { ResolvedConfig } from '../../main/engine/config.ts';
import { userModeEngine, userModeSetup } from './user-mode-engine.ts';

export interface EngineHarness {
  sim: Simulator;
  dir: string;
  hostsPath: string;
  config: ResolvedConfig;
  engine: Engine;
  /** Start another engine on the same state (a restart). */
  restart(): Promise<Engine>;
  close(): Promise<void>;
}

export const HOSTS_BEFORE = '127.0.0.1 localhost\r\n# user comment\r\n::1 ip6-localhost';

/** `subnet` must be unique per test file: files run in parallel and share the loopback. */
export async function startEngineHarness(options: {
  subnet: string;
  sim?: SimulatorOptions;
  config?: Record<string, unknown>;
}): Promise<EngineHarness> {
  const sim = await startSimulator(options.sim);
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-engine-'));
  const { config, hostsPath } = userModeSetup(dir, sim, { ...options, hostsBefore: HOSTS_BEFORE });
  const make = (): Engine => userModeEngine(config, hostsPath);
  const harness: EngineHarness = {
    sim,
    dir,
    hostsPath,
    config,
    engine: make(),
    async restart() {
      await harness.engine.stop();
      harness.engine = make();
      await harness.engine.start();
      return harness.engine;
    },
    async close() {
      await harness.engine.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await harness.engine.start();
  return harness;
}
