/**
 * `ngrokd cleanup`: remove what ngrokd made and a crash or a failed stop left behind — the hosts
 * section, the interfaces carrying our alias (with their addresses) and a stale control socket —
 * when no daemon is running. A running daemon is never touched: stop it and it cleans up itself.
 * As root it removes everything; as a normal user only what user mode makes (the section in
 * NGROKD_HOSTS_PATH, the socket), since the privileged helper cleans up after its own clients.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { DEFAULT_HOSTS_PATH } from '../common/defaults.ts';
import { NgrokdError } from '../common/errors.ts';
import type { ResolvedConfig } from '../engine/config.ts';
import { socketInUse } from '../system/listen.ts';
import { removeLeftovers } from '../system/root-ops.ts';
import { HostsSection } from '../system/hosts-file.ts';

export async function cleanup(config: ResolvedConfig, isRoot = process.geteuid?.() === 0): Promise<string[]> {
  if (await socketInUse(config.socketPath)) {
    throw new NgrokdError(
      'INTERFACE_IN_USE',
      `ngrokd is running (control socket ${config.socketPath}); cleanup would pull its interface and names from under it`,
      'Stop it (Ctrl-C, or SIGTERM): a daemon removes everything it made when it stops.',
    );
  }
  const done: string[] = [];
  const name = config.net.interface_name;
  if (isRoot) {
    const hostsPath = config.hostsPath ?? DEFAULT_HOSTS_PATH;
    const removed = await removeLeftovers({ interfaceName: name, hostsPath, stateDir: config.stateDir });
    if (removed.section) done.push(`the ngrokd section of ${hostsPath}`);
    for (const link of removed.interfaces) done.push(`interface ${link} and its addresses`);
  } else if (config.hostsPath !== undefined) {
    const section = new HostsSection({
      path: config.hostsPath,
      interfaceName: name,
      subnet: config.net.user_subnet,
      watchIntervalMs: 0,
      journalDir: config.stateDir,
    });
    if ((await section.remove()).changed) done.push(`the ngrokd section of ${config.hostsPath}`);
  }
  if (existsSync(config.socketPath)) {
    unlinkSync(config.socketPath);
    done.push(`the stale control socket ${config.socketPath}`);
  }
  return done;
}
