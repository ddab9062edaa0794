/**
 * Root end-to-end scenarios run in private mount and network namespaces with a copy of /etc bind-
 * mounted over /etc, so the daemon can use the real /etc/hosts path while the machine's own network
 * and hosts file are never touched. The scenario prints one JSON line of observations.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointView, StatusView } from '../../main/common/contract.ts';

const MARKER = '.ngrokd-test-namespace';

/** What every daemon scenario reports. */
export interface DaemonObservations {
  list: EndpointView[];
  status: StatusView;
  curl: string;
  hostsBefore: string;
  hostsDuring: string;
  hostsAfter: string;
  exitCode: number | null;
}

/** Run `scenario` (a .ts file) as root in the namespaces with `hosts` as /etc/hosts; its JSON line. */
export function runWithPrivateEtc<T>(scenario: string, hosts: string, timeoutMs = 90_000): T {
  if (process.getuid?.() !== 0) throw new Error('this test must run as root (CI does)');
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-etc-'));
  try {
    const etc = join(dir, 'etc');
    cpSync('/etc', etc, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(etc, 'hosts'), hosts);
    writeFileSync(join(etc, MARKER), '');
    const script = `set -e; mount --make-rprivate /; mount --bind "$1" /etc; ip link set lo up; exec "$2" "$3"`;
    const child = spawnSync(
      'unshare',
      ['-m', '-n', 'sh', '-c', script, 'sh', etc, process.execPath, scenario],
      {
        encoding: 'utf8',
        timeout: timeoutMs,
      },
    );
    if (child.status !== 0) throw new Error(`scenario failed:\n${child.stdout}\n${child.stderr}`);
    return JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Run `scenario` as root in private mount and network namespaces where only /etc/hosts is replaced,
 * by a single-file bind mount of a copy holding `hosts` (as Docker and dev containers do it).
 */
export function runWithBindMountedHosts<T>(scenario: string, hosts: string): T {
  if (process.getuid?.() !== 0) throw new Error('this test must run as root (CI does)');
  const dir = mkdtempSync(join(tmpdir(), 'ngrokd-hosts-mount-'));
  try {
    const copy = join(dir, 'hosts');
    writeFileSync(copy, `${hosts}${hosts.endsWith('\n') ? '' : '\n'}${HOSTS_MARKER}\n`);
    const script = `set -e; mount --make-rprivate /; mount --bind "$1" /etc/hosts; ip link set lo up; exec "$2" "$3"`;
    const child = spawnSync(
      'unshare',
      ['-m', '-n', 'sh', '-c', script, 'sh', copy, process.execPath, scenario],
      {
        encoding: 'utf8',
        timeout: 90_000,
      },
    );
    if (child.status !== 0) throw new Error(`scenario failed:\n${child.stdout}\n${child.stderr}`);
    return JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The line that marks a bind-mounted test copy of /etc/hosts. */
const HOSTS_MARKER = `# ${MARKER}`;

/** Inside a scenario: refuse to run unless /etc (or at least /etc/hosts) is a private copy. */
export function assertPrivateEtc(): void {
  const hostsIsCopy = readFileSync('/etc/hosts', 'utf8').split('\n').includes(HOSTS_MARKER);
  if (!existsSync(join('/etc', MARKER)) && !hostsIsCopy)
    throw new Error(`refusing to run: /etc/${MARKER} missing, /etc is not the private copy`);
}

/** Poll `list --json` until `count` endpoints are listening (or 20 s pass); the last list seen. */
export async function waitForListening(list: () => Promise<string>, count: number): Promise<EndpointView[]> {
  let seen: EndpointView[] = [];
  for (let i = 0; i < 200; i++) {
    try {
      seen = JSON.parse(await list()) as EndpointView[];
      if (seen.length === count && seen.every((e) => e.listening)) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

/** Inside a scenario: the daemon's config for `sim` in `dir` (ingress CA, state, socket); its path. */
export function writeDaemonConfig(
  dir: string,
  sim: { apiUrl: string; apiKey: string; ingressCaPem: string },
): { config: string; files: string[] } {
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, sim.ingressCaPem);
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    stringify({
      api: { url: sim.apiUrl, key: sim.apiKey },
      ingressCA: ca,
      server: { state_dir: join(dir, 'state'), socket_path: join(dir, 'ngrokd.sock') },
    }),
  );
  return { config, files: [ca, config] };
}
