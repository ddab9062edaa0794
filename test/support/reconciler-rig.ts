/**
 * The engine's rooms wired by hand against the simulator (what Engine.start does, in user mode),
 * so a test can give the API client, the registration and the simulator one virtual clock, a short
 * timeout or a tiny poll interval, drive passes itself and read the status the engine would show.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusView } from '../../main/common/contract.ts';
import type { InterfaceInfo } from '../../main/common/privileged.ts';
import { IngressSession, type ApiClientOptions } from '../../main/engine/ingress-session.ts';
import { silentLogger } from '../../main/engine/log.ts';
import { Problems } from '../../main/engine/problems.ts';
import { Reconciler } from '../../main/engine/reconciler.ts';
import { endpointViews, statusView } from '../../main/engine/status-view.ts';
import { UserModeOps } from '../../main/engine/user-mode.ts';
import { VERSION } from '../../main/engine/version.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../sim/simulator.ts';
import { userModeSetup } from './user-mode-engine.ts';

export interface ReconcilerRig {
  sim: Simulator;
  session: IngressSession;
  problems: Problems;
  reconciler: Reconciler;
  /** What `status` would show now. */
  status(): StatusView;
  /**
   * One pass, then no timer left behind (the test drives the passes); resolves the delay the
   * reconciler scheduled the next poll at.
   */
  pass(): Promise<number | null>;
  setPollInterval(seconds: number): void;
  close(): Promise<void>;
}

export interface RigOptions {
  /** Unique per test file: files run in parallel and share the loopback. */
  subnet: string;
  sim?: SimulatorOptions;
  /** Seconds; default 30. */
  pollInterval?: number;
  api?: ApiClientOptions;
  /** The clock of registration, renewal and poll times; default the API client's. */
  now?: () => number;
  random?: () => number;
  config?: Record<string, unknown>;
}

export async function startReconcilerRig(options: RigOptions): Promise<ReconcilerRig> {
  const sim = await startSimulator(options.sim);
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-reconciler-'));
  const { config, hostsPath } = userModeSetup(dir, sim, {
    subnet: options.subnet,
    hostsBefore: '127.0.0.1 localhost\n',
    ...(options.config === undefined ? {} : { config: options.config }),
  });
  const random = options.random ?? (() => 0.5);
  const now = options.now ?? options.api?.now ?? Date.now;
  const session = new IngressSession({
    config,
    logger: silentLogger,
    api: { random, ...options.api },
    now,
    random,
  });
  const problems = new Problems();
  const ops = new UserModeOps({
    subnet: config.net.user_subnet,
    hostsPath,
    interfaceName: config.net.interface_name,
  });
  let pollInterval = options.pollInterval ?? 30;
  const reconciler = new Reconciler({
    ops,
    session,
    problems,
    logger: silentLogger,
    stateDir: config.stateDir,
    plan: () => ({ enabled: true, pollInterval, selectors: ['true'], disabled: new Set<string>() }),
    random,
    now,
  });
  session.useApiKey(config.apiKey as string);
  const iface: InterfaceInfo = await ops.ensureInterface({
    name: config.net.interface_name,
    subnet: config.net.user_subnet,
  });
  await reconciler.openIpam(iface.subnet);
  session.loadTrust();
  return {
    sim,
    session,
    problems,
    reconciler,
    status: () =>
      statusView(
        {
          version: VERSION,
          enabled: true,
          operator: session.operator,
          ingress: session.ingress,
          mode: ops.mode,
          interface: iface,
          hostsPath,
          lastPollAt: reconciler.lastPollAt,
          errors: problems.list(),
          warnings: problems.warnings(),
        },
        endpointViews(reconciler.endpoints()),
        reconciler.lastUpgradeAt(),
      ),
    async pass() {
      await reconciler.reconcile();
      const next = reconciler.nextPollInMs;
      reconciler.cancelPoll();
      return next;
    },
    setPollInterval(seconds) {
      pollInterval = seconds;
    },
    async close() {
      await reconciler.stop();
      session.close();
      await ops.teardown();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
