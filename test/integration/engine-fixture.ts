/** Run the real engine in user mode against the simulator, in a temp directory. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '../sim/simulator.ts';
import { Engine } from '../../main/engine/engine.ts';
import { resolveConfig, validateConfig, type ResolvedConfig } from '../../main/engine/config.ts';
import { UserModeOps } from '../../main/engine/user-mode.ts';
import { silentLogger } from '../../main/engine/log.ts';

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
  const caFile = join(dir, 'ingress-ca.pem');
  writeFileSync(caFile, sim.ingressCaPem);
  const hostsPath = join(dir, 'hosts');
  writeFileSync(hostsPath, HOSTS_BEFORE);
  const config: ResolvedConfig = {
    ...resolveConfig(
      validateConfig({
        api: { url: sim.apiUrl, key: sim.apiKey },
        ingressCA: caFile,
        server: { state_dir: join(dir, 'state'), socket_path: join(dir, 'ngrokd.sock') },
        bound_endpoints: { poll_interval: 3600 },
        net: { user_subnet: options.subnet },
        ...options.config,
      }),
    ),
    hostsPath,
    trustDir: join(dir, 'no-trust-dir'),
  };
  const make = (): Engine =>
    new Engine({
      config,
      ops: new UserModeOps({ subnet: options.subnet, hostsPath, interfaceName: config.net.interface_name }),
      logger: silentLogger,
    });
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
