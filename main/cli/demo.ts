/**
 * `ngrokd demo`: the real daemon in user mode against the in-repo ngrok simulator. No account, no
 * root, no network: everything listens on loopback, state and hosts file live in a temp directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_ENDPOINTS, startSimulator } from '../../test/sim/simulator.ts';
import type { EndpointView } from '../common/contract.ts';
import { resolveConfig, validateConfig } from '../engine/config.ts';
import { runDaemon } from './run-daemon.ts';
import { formatEndpoints } from './format.ts';
import { startDemoTraffic, type DemoTraffic } from './demo-traffic.ts';
import type { BrowserUiOptions } from '../engine/ui-server/browser-ui.ts';

export function howToReach(e: EndpointView): string {
  const where = `${e.ip}:${e.listen_port}`;
  if (e.proto === 'http') {
    const port = e.listen_port === 80 ? '' : `:${e.listen_port}`;
    return `curl --resolve ${e.hostname}:${e.listen_port}:${e.ip} http://${e.hostname}${port}/`;
  }
  if (e.proto === 'tcp') return `nc ${e.ip} ${e.listen_port}   # echo backend`;
  return `openssl s_client -connect ${where}   # raw TLS passthrough (${e.proto})`;
}

export async function runDemo(options: {
  socketPath?: string | undefined;
  /** `--ui`: serve the browser UI, and send simulated traffic so it has something to show. */
  ui?: BrowserUiOptions;
}): Promise<void> {
  const sim = await startSimulator({ endpoints: DEMO_ENDPOINTS });
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-demo-'));
  const caFile = join(dir, 'ingress-ca.pem');
  writeFileSync(caFile, sim.ingressCaPem, { mode: 0o600 });
  const hostsPath = process.env.NGROKD_HOSTS_PATH || join(dir, 'hosts');
  if (hostsPath.startsWith(dir)) writeFileSync(hostsPath, '127.0.0.1 localhost\n');
  const config = resolveConfig(
    validateConfig({
      api: { url: sim.apiUrl, key: sim.apiKey },
      ingressCA: caFile,
      server: {
        state_dir: join(dir, 'state'),
        log_level: 'warn',
        ...(options.socketPath === undefined ? {} : { socket_path: options.socketPath }),
      },
      bound_endpoints: { poll_interval: 2 },
    }),
  );
  let traffic: DemoTraffic | undefined;
  await runDaemon(
    { ...config, hostsPath },
    {
      userMode: true,
      ...(options.ui === undefined ? {} : { ui: options.ui }),
      onReady: (daemon) => {
        if (options.ui !== undefined) traffic = startDemoTraffic(() => daemon.engine.endpoints());
        const endpoints = daemon.engine.endpoints();
        const lines = [
          '',
          'ngrokd demo: simulated ngrok API and binding ingress on 127.0.0.1, daemon in user mode.',
          '',
          formatEndpoints(endpoints),
          '',
          'Try:',
          ...endpoints.map((e) => `  ${howToReach(e)}`),
          '',
          `Hosts section written to ${hostsPath}`,
          `In another terminal: npm run ngrokd -- status --socket ${config.socketPath}   (or: list --json)`,
          '',
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      },
      onStop: async () => {
        traffic?.stop();
        await sim.close();
        rmSync(dir, { recursive: true, force: true });
      },
    },
  );
}
