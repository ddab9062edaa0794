/**
 * A real engine in user mode in a temp directory, configured against a simulator: the integration
 * harness and the reconcile bench build it the same way. No simulator import, so the bench's
 * child process measures the engine alone.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig, validateConfig, type ResolvedConfig } from '../../main/engine/config.ts';
import { Engine } from '../../main/engine/engine.ts';
import { silentLogger } from '../../main/engine/log.ts';
import { UserModeOps } from '../../main/engine/user-mode.ts';

/** What the engine needs of a simulator, in-process or forked. */
export interface SimulatorAccess {
  apiUrl: string;
  apiKey: string;
  ingressCaPem: string;
}

export interface UserModeSetup {
  config: ResolvedConfig;
  hostsPath: string;
}

/**
 * Write the ingress CA and a hosts file (`hostsBefore`) into `dir` and build the config: state and
 * control socket in `dir`, polling only hourly, a trust dir that does not exist. `config` wins.
 */
export function userModeSetup(
  dir: string,
  sim: SimulatorAccess,
  options: { subnet: string; hostsBefore: string; config?: Record<string, unknown> },
): UserModeSetup {
  const caFile = join(dir, 'ingress-ca.pem');
  writeFileSync(caFile, sim.ingressCaPem);
  const hostsPath = join(dir, 'hosts');
  writeFileSync(hostsPath, options.hostsBefore);
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
  return { config, hostsPath };
}

/** An engine (not started) on `config`, in user mode on its subnet, quiet. */
export function userModeEngine(config: ResolvedConfig, hostsPath: string): Engine {
  return new Engine({
    config,
    ops: new UserModeOps({
      subnet: config.net.user_subnet,
      hostsPath,
      interfaceName: config.net.interface_name,
    }),
    logger: silentLogger,
  });
}
