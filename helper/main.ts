/**
 * The privileged helper daemon: `node helper/main.ts [options]`, run as root by systemd (Linux) or
 * launchd (macOS). Options come from argv, else the environment:
 *   --socket PATH          NGROKD_HELPER_SOCKET       default /run/ngrokd-helper.sock (/var/run on macOS)
 *   --uid UID              NGROKD_HELPER_ALLOWED_UID  the user who installed the helper (root is always
 *                                                     allowed); --allowed-uid is the same option
 *   --hosts-path PATH      NGROKD_HOSTS_PATH          default /etc/hosts
 *   --state-dir DIR                                   default /var/lib/ngrokd-helper: the journal of
 *                                                     in-place hosts rewrites (bind-mounted /etc/hosts)
 *   --grace-ms MS          NGROKD_HELPER_GRACE_MS     default 10000: cleanup delay after the app vanished
 *   --idle-ms MS                                      default 30000: a quiet connection that is not
 *                                                     the app's controlling one is closed
 *   --version VERSION      the installed release, reported in hello (default: package.json)
 *   --interface NAME, --subnet CIDR                   the one interface and subnet served; else
 *   --net-config PATH      default /etc/ngrokd/helper.json ({"interface_name", "subnet"}, root-owned),
 *                                                     else ngrokd0 and 10.107.0.0/16
 *   --teardown             one shot (uninstall): remove the hosts section and every ngrokd interface
 * Nothing a client sends can change the interface or subnet: only root can, through these.
 * Logs are JSON lines on stderr. SIGTERM/SIGINT remove the hosts section, the addresses and every
 * interface ngrokd made, then exit.
 */
import type { StructuredLogger } from '../main/common/logger.ts';
import { isEntryPoint } from '../main/system/entry-point.ts';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { z } from 'zod';
import pkg from '../package.json' with { type: 'json' };
import { NgrokdError } from '../main/common/errors.ts';
import { defaultHelperSocketPath } from './protocol.ts';
import { DEFAULT_HOSTS_PATH, DEFAULT_INTERFACE, DEFAULT_SUBNET } from '../main/common/defaults.ts';
import { validateInterfaceName } from '../main/common/interface-name.ts';
import type { InterfaceSpec } from '../main/common/privileged.ts';
import { interfaceNameText, privateSubnetText } from '../main/common/schemas.ts';
import { parsePrivateCidr } from '../main/common/subnet.ts';
import { HELPER_NET_CONFIG_PATH, removeLeftovers, RootOps, trustedOwners } from '../main/system/root-ops.ts';
import { resolveSafePath } from '../main/system/safe-path.ts';
import { DEFAULT_GRACE_PERIOD_MS, DEFAULT_IDLE_TIMEOUT_MS, HelperServer } from './server.ts';

/** systemd's StateDirectory=ngrokd-helper; launchd has no sandbox, the same path works. */
export const DEFAULT_HELPER_STATE_DIR = '/var/lib/ngrokd-helper';

/** The release of these files; an installed helper is told its version with --version. */
export const HELPER_VERSION: string = pkg.version;

export interface HelperConfig {
  socketPath: string;
  allowedUid: number | null;
  hostsPath: string;
  /** Root-only directory for the in-place rewrite journal. */
  stateDir: string;
  gracePeriodMs: number;
  idleTimeoutMs: number;
  version: string;
  /** The one interface and subnet served. */
  network: InterfaceSpec;
  /** The one-shot uninstall cleanup instead of serving. */
  teardown: boolean;
}

const netConfigSchema = z
  .object({ interface_name: interfaceNameText.optional(), subnet: privateSubnetText.optional() })
  .strict();

/**
 * The root-owned network config, or {} when there is none. A file that other users could have
 * written (or that is in a directory they can write) is refused, not ignored.
 */
function readNetConfig(path: string): z.infer<typeof netConfigSchema> {
  if (!existsSync(path)) return {};
  const text = readFileSync(
    resolveSafePath(path, { what: 'helper network config', owners: trustedOwners(), code: 'CONFIG_INVALID' }),
    'utf8',
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw configError(
      'network config',
      path,
      'expected JSON such as {"interface_name": "ngrokd0", "subnet": "10.107.0.0/16"}',
    );
  }
  const result = netConfigSchema.safeParse(parsed);
  if (!result.success)
    throw configError(
      'network config',
      path,
      result.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; '),
    );
  return result.data;
}

function configError(what: string, value: string, allowed: string): NgrokdError {
  return new NgrokdError(
    'CONFIG_INVALID',
    `helper ${what} ${JSON.stringify(value)} is invalid: ${allowed}`,
    'Fix the helper service definition (reinstall with `npm run ngrokd -- helper install`).',
  );
}

function parseInteger(what: string, value: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw configError(what, value, `expected an integer from ${min} to ${max}`);
  }
  return Number(value);
}

export function parseHelperConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): HelperConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        socket: { type: 'string' },
        uid: { type: 'string' },
        'allowed-uid': { type: 'string' },
        'hosts-path': { type: 'string' },
        'state-dir': { type: 'string' },
        'grace-ms': { type: 'string' },
        'idle-ms': { type: 'string' },
        version: { type: 'string' },
        teardown: { type: 'boolean' },
        interface: { type: 'string' },
        subnet: { type: 'string' },
        'net-config': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new NgrokdError(
      'CONFIG_INVALID',
      `helper arguments: ${err instanceof Error ? err.message : String(err)}`,
      'Fix the helper service definition (reinstall with `npm run ngrokd -- helper install`).',
    );
  }
  const { values } = parsed;
  const socketPath = values.socket ?? env.NGROKD_HELPER_SOCKET ?? defaultHelperSocketPath();
  const hostsPath = values['hosts-path'] ?? env.NGROKD_HOSTS_PATH ?? DEFAULT_HOSTS_PATH;
  const stateDir = values['state-dir'] ?? DEFAULT_HELPER_STATE_DIR;
  for (const [what, path] of [
    ['socket path', socketPath],
    ['hosts path', hostsPath],
    ['state directory', stateDir],
  ] as const) {
    if (!path.startsWith('/')) throw configError(what, path, 'expected an absolute path');
  }
  const netConfigPath = values['net-config'] ?? HELPER_NET_CONFIG_PATH;
  if (!netConfigPath.startsWith('/'))
    throw configError('network config', netConfigPath, 'expected an absolute path');
  const fromFile =
    values.interface !== undefined && values.subnet !== undefined ? {} : readNetConfig(netConfigPath);
  const network = {
    name: validateInterfaceName(values.interface ?? fromFile.interface_name ?? DEFAULT_INTERFACE),
    subnet: parsePrivateCidr(values.subnet ?? fromFile.subnet ?? DEFAULT_SUBNET, 'helper subnet').cidr,
  };
  const idle = values['idle-ms'];
  const uid = values.uid ?? values['allowed-uid'] ?? env.NGROKD_HELPER_ALLOWED_UID;
  const grace = values['grace-ms'] ?? env.NGROKD_HELPER_GRACE_MS;
  const version = values.version ?? HELPER_VERSION;
  if (!/^[0-9A-Za-z.+-]{1,64}$/.test(version))
    throw configError('version', version, 'expected a release such as 1.2.3');
  return {
    socketPath,
    hostsPath,
    stateDir,
    allowedUid: uid === undefined || uid === '' ? null : parseInteger('allowed uid', uid, 0, 2 ** 32 - 2),
    gracePeriodMs:
      grace === undefined ? DEFAULT_GRACE_PERIOD_MS : parseInteger('grace period (ms)', grace, 0, 3_600_000),
    idleTimeoutMs:
      idle === undefined ? DEFAULT_IDLE_TIMEOUT_MS : parseInteger('idle timeout (ms)', idle, 100, 3_600_000),
    version,
    network,
    teardown: values.teardown === true,
  };
}

/** Start the helper as root; resolves once it is listening. */
export async function runHelper(config: HelperConfig, logger: StructuredLogger): Promise<HelperServer> {
  if (process.getuid?.() !== 0) {
    throw new NgrokdError(
      'HELPER_ERROR',
      `the helper must run as root (it runs as uid ${process.getuid?.() ?? 'unknown'})`,
      'Install it with `npm run ngrokd -- helper install`, which starts it as a system service.',
    );
  }
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const ops = new RootOps({
    hostsPath: config.hostsPath,
    pinned: config.network,
    stateDir: config.stateDir,
    ownerSocket: config.socketPath,
  });
  await ops.removeLeftovers();
  return HelperServer.start({
    socketPath: config.socketPath,
    allowedUid: config.allowedUid,
    ops,
    version: config.version,
    logger,
    gracePeriodMs: config.gracePeriodMs,
    idleTimeoutMs: config.idleTimeoutMs,
  });
}

async function main(): Promise<void> {
  const logger = pino(
    { base: { app: 'ngrokd-helper', version: HELPER_VERSION }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 2, sync: true }),
  );
  let server: HelperServer;
  try {
    const config = parseHelperConfig(process.argv.slice(2));
    if (config.teardown) {
      await removeLeftovers({
        interfaceName: config.network.name,
        hostsPath: config.hostsPath,
        stateDir: config.stateDir,
      });
      logger.info({ interface: config.network.name, hostsPath: config.hostsPath }, 'teardown done');
      return;
    }
    server = await runHelper(config, logger);
  } catch (err) {
    const fields = err instanceof NgrokdError ? err.toJSON() : { message: String(err) };
    logger.error(fields, 'helper failed to start');
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: removing hosts section, addresses and interfaces');
    void server.close({ teardown: true }).finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (isEntryPoint(import.meta.url)) await main();
