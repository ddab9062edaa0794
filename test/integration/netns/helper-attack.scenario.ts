/**
 * The privileged helper under attack, run as root inside `unshare -n` by
 * test/helper/server.attack.test.ts: hostile start-up paths, a hostile client running as the
 * very user the helper serves (helper-attacker.ts, via setpriv), routes that already cover the
 * subnet, floods, crowds, idlers and a stranger hammering the socket. Prints one JSON object with
 * everything observed; the test asserts.
 *   node helper-attack.scenario.ts TEMPDIR
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  lchownSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensureInterface, MANAGED_ALIAS } from '../../../main/system/linux/interface.ts';
import { ALLOWED_UID, OTHER_UID } from './helper-fixture.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HELPER = join(ROOT, 'helper/main.ts');
const ATTACKER = join(ROOT, 'test/integration/netns/helper-attacker.ts');
const GRACE_MS = 300;
const IDLE_MS = 500;
const FLOOD_BYTES = 2 * 1024 * 1024;
const USER_LINES = '127.0.0.1 localhost\n10.0.0.5 nas.home\n';

const dir = process.argv[2] ?? '';
if (dir === '') throw new Error('usage: helper-attack.scenario.ts TEMPDIR');
chmodSync(dir, 0o755);
const socketPath = join(dir, 'helper.sock');
const hostsPath = join(dir, 'hosts');
writeFileSync(hostsPath, USER_LINES);
const results: Record<string, unknown> = {};

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

/** Names of the links carrying ngrokd's alias, and of all links. */
function links(): { managed: string[]; all: string[] } {
  const list = JSON.parse(ip('-j', 'link', 'show')) as { ifname: string; ifalias?: string }[];
  return {
    managed: list
      .filter((l) => l.ifalias?.startsWith(MANAGED_ALIAS) === true)
      .map((l) => l.ifname)
      .sort(),
    all: list.map((l) => l.ifname).sort(),
  };
}

interface Started {
  child: ChildProcess;
  log: string[];
}

/** Start the helper; resolves once it listens, or with its exit code and log when it refuses. */
function startHelper(args: string[]): Promise<Started | { exitCode: number | null; log: string[] }> {
  const child = spawn(process.execPath, [HELPER, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve({ exitCode: code, log }));
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      log.push(line);
      if (line.includes('"msg":"helper listening"')) resolve({ child, log });
    });
  });
}

function helperArgs(overrides: Record<string, string> = {}): string[] {
  const options: Record<string, string> = {
    '--socket': socketPath,
    '--uid': String(ALLOWED_UID),
    '--hosts-path': hostsPath,
    '--grace-ms': String(GRACE_MS),
    '--state-dir': join(dir, 'helper-state'),
    '--idle-ms': String(IDLE_MS),
    '--net-config': join(dir, 'no-such-helper.json'),
    ...overrides,
  };
  return Object.entries(options).flat();
}

/** A start that must be refused: its exit code and the error it logged. */
async function refusedStart(
  overrides: Record<string, string>,
): Promise<{ exitCode: number | null; error: string }> {
  const started = await startHelper(helperArgs(overrides));
  if ('child' in started) {
    await stop(started.child);
    return { exitCode: 0, error: 'it started' };
  }
  const line = started.log.find((l) => l.includes('helper failed to start')) ?? started.log.join('\n');
  return { exitCode: started.exitCode, error: line };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

/** Run helper-attacker.ts as `uid`; resolves with its first line of output. */
function attack(
  uid: number,
  ...args: string[]
): { child: ChildProcess; output: Promise<Record<string, unknown>> } {
  const child = spawn(
    'setpriv',
    [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, ATTACKER, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/' },
  );
  const output = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`attacker ${args[0]} exited (${code}) without output`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
      resolve(JSON.parse(line) as Record<string, unknown>),
    );
  });
  return { child, output };
}

async function attackOnce(uid: number, ...args: string[]): Promise<Record<string, unknown>> {
  const { child, output } = attack(uid, ...args);
  const value = await output;
  await once(child, 'exit').catch(() => undefined);
  return value;
}

/** Poll until `done` holds (or 20 s pass). */
async function until<T>(look: () => T, done: (value: T) => boolean): Promise<{ held: boolean; value: T }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = look();
    if (done(value)) return { held: true, value };
    if (Date.now() > deadline) return { held: false, value };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** kB figures of /proc/PID/status. */
function memory(pid: number): { rssKb: number; peakKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rssKb: field('VmRSS'), peakKb: field('VmHWM') };
}

let helper: ChildProcess | undefined;
try {
  ip('link', 'set', 'lo', 'up');
  // What an earlier version or install could have left: a managed link under another name, with its
  // gateway address still local. And a link of the user's own, which must never be touched.
  ensureInterface({ name: 'ngrokdold', subnet: '10.99.0.0/30' });
  ip('link', 'add', 'userbr0', 'type', 'bridge');
  results.before = links();

  // --- Start-up paths that must be refused ------------------------------------------------------
  const open = join(dir, 'open');
  mkdirSync(open, { mode: 0o777 });
  chmodSync(open, 0o777);
  const foreign = join(dir, 'foreign');
  mkdirSync(foreign, { mode: 0o755 });
  chownSync(foreign, ALLOWED_UID, ALLOWED_UID);
  const victimDir = join(dir, 'victim-dir');
  mkdirSync(victimDir, { mode: 0o755 });
  const victim = join(victimDir, 'hosts');
  writeFileSync(victim, 'root-owned file\n', { mode: 0o600 });
  symlinkSync(victim, join(open, 'hosts'));
  // A sticky world-writable directory (like /tmp): anybody may plant a symlink there.
  const sticky = join(dir, 'sticky');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  symlinkSync(victimDir, join(sticky, 'etc'));
  lchownSync(join(sticky, 'etc'), ALLOWED_UID, ALLOWED_UID);
  const userConfig = join(foreign, 'helper.json');
  writeFileSync(userConfig, '{"subnet": "10.107.0.0/16"}');
  chownSync(userConfig, ALLOWED_UID, ALLOWED_UID);
  // Root's own file, but anybody may rewrite it.
  const openConfig = join(dir, 'helper-open.json');
  writeFileSync(openConfig, '{"subnet": "10.107.0.0/16"}');
  chmodSync(openConfig, 0o666);
  results.refused = {
    publicSubnet: await refusedStart({ '--subnet': '8.8.8.0/24' }),
    socketInOpenDir: await refusedStart({ '--socket': join(open, 'helper.sock') }),
    socketInForeignDir: await refusedStart({ '--socket': join(foreign, 'helper.sock') }),
    hostsInForeignDir: await refusedStart({ '--hosts-path': join(foreign, 'hosts') }),
    hostsInOpenDir: await refusedStart({ '--hosts-path': join(open, 'hosts') }),
    hostsSymlinkPlanted: await refusedStart({ '--hosts-path': join(sticky, 'etc', 'hosts') }),
    userNetConfig: await refusedStart({ '--net-config': userConfig }),
    openNetConfig: await refusedStart({ '--net-config': openConfig }),
  };
  results.victim = { text: readFileSync(victim, 'utf8'), mode: statSync(victim).mode & 0o777 };

  // --- The real helper --------------------------------------------------------------------------
  const started = await startHelper(helperArgs());
  if (!('child' in started)) throw new Error(`helper did not start:\n${started.log.join('\n')}`);
  helper = started.child;
  const helperLog = started.log;
  results.afterStart = links();
  results.socketMode = statSync(socketPath).mode & 0o777;

  // The user it serves asks for everything it must not get.
  results.abuse = await attackOnce(ALLOWED_UID, 'abuse', socketPath);
  results.afterAbuse = { ...links(), hosts: readFileSync(hostsPath, 'utf8') };
  results.afterAbuseGrace = await until(links, (l) => l.managed.length === 0);

  // Networks that already cover the subnet: a VPN's more specific route, a split default route, a
  // policy-routing table (Tailscale, wg-quick), a Docker bridge.
  ip('link', 'add', 'vpn0', 'type', 'bridge');
  ip('link', 'set', 'vpn0', 'up');
  ip('link', 'add', 'docker0', 'type', 'bridge');
  const conflicts: Record<string, unknown> = {};
  const routed: [string, string[], string[]][] = [
    [
      'vpnRoute',
      ['route', 'add', '10.107.128.0/17', 'dev', 'vpn0'],
      ['route', 'del', '10.107.128.0/17', 'dev', 'vpn0'],
    ],
    [
      'splitDefault',
      ['route', 'add', '0.0.0.0/1', 'dev', 'vpn0'],
      ['route', 'del', '0.0.0.0/1', 'dev', 'vpn0'],
    ],
    [
      'policyTable',
      ['route', 'add', '10.107.0.0/16', 'dev', 'vpn0', 'table', '52'],
      ['route', 'del', '10.107.0.0/16', 'dev', 'vpn0', 'table', '52'],
    ],
    [
      'dockerBridge',
      ['addr', 'add', '10.107.9.1/24', 'dev', 'docker0'],
      ['addr', 'del', '10.107.9.1/24', 'dev', 'docker0'],
    ],
  ];
  for (const [name, add, remove] of routed) {
    ip(...add);
    conflicts[name] = (await attackOnce(ALLOWED_UID, 'ensure', socketPath)).reply;
    ip(...remove);
  }
  results.conflicts = conflicts;
  results.afterConflicts = links();

  // A client that pipelines 2 MiB of requests and never reads the replies.
  const baseline = memory(helper.pid as number);
  const flooder = attack(ALLOWED_UID, 'flood', socketPath, String(FLOOD_BYTES));
  const sent = await flooder.output;
  // Sample until the helper has stopped taking in more (its memory no longer moves) or 20 s pass.
  let last = memory(helper.pid as number);
  let steady = 0;
  const deadline = Date.now() + 20_000;
  while (steady < 10 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = memory(helper.pid as number);
    steady = Math.abs(now.rssKb - last.rssKb) < 1024 ? steady + 1 : 0;
    last = now;
  }
  results.flood = { sent, baseline, during: memory(helper.pid as number) };
  await stop(flooder.child, 'SIGKILL');

  // Twenty connections at once from the served user: only the per-uid limit get in.
  results.crowd = await attackOnce(ALLOWED_UID, 'crowd', socketPath, '20');
  // A connection that says hello and then nothing: closed after the idle timeout.
  results.idle = await attackOnce(ALLOWED_UID, 'idle', socketPath);
  // A stranger hammering the socket: refused every time, logged a bounded number of times.
  const refusalsBefore = helperLog.filter((l) => l.includes('refused connection')).length;
  results.stranger = await attackOnce(OTHER_UID, 'crowd', socketPath, '300');
  results.refusalLines = helperLog.filter((l) => l.includes('refused connection')).length - refusalsBefore;
  results.helperAlive = helper.exitCode === null && helper.signalCode === null;
  results.servesAfterwards = await attackOnce(ALLOWED_UID, 'crowd', socketPath, '1');

  // SIGTERM with the interface up and another ngrokd link made behind the helper's back.
  await attackOnce(ALLOWED_UID, 'ensure', socketPath);
  ensureInterface({ name: 'ngrokdx', subnet: '10.98.0.0/30' });
  results.beforeSigterm = links();
  await stop(helper);
  results.afterSigterm = links();

  // The uninstall's one-shot teardown removes every managed link, and only those.
  ensureInterface({ name: 'ngrokda', subnet: '10.97.0.0/30' });
  ensureInterface({ name: 'ngrokdb', subnet: '10.96.0.0/30' });
  execFileSync(process.execPath, [
    HELPER,
    '--teardown',
    '--hosts-path',
    hostsPath,
    '--net-config',
    join(dir, 'none'),
    '--state-dir',
    join(dir, 'helper-state'),
  ]);
  results.afterTeardown = links();
} catch (err) {
  results.error = err instanceof Error ? err.stack : String(err);
} finally {
  if (helper !== undefined) await stop(helper);
  process.stdout.write(`${JSON.stringify(results)}\n`);
}
