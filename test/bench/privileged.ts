/**
 * Privileged-operation benchmark (issue 3). Must run as root inside a private network namespace:
 * run.ts starts it as `unshare -n node test/bench/privileged.ts`. Prints one JSON document.
 *  - netlink batching: add/remove 1,000 and 10,000 endpoint addresses (beyond 1,000 setAddresses
 *    adds none: the subnet's local route carries them); side by side, what adding 10,000 one by one
 *    costs the kernel (`ip -batch`, one process);
 *  - 200 addresses both ways, side by side: netlink batching vs one `ip addr add` / `ip addr del`
 *    process per address (200, not 1,000: at ~20 ms a process the per-address way takes 40 s);
 *  - rewriting a hosts section of 10,000 entries (and the no-op rewrite).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { destroyInterface, ensureInterface, setAddresses } from '../../main/system/linux/interface.ts';
import { HostsSection } from '../../main/system/hosts-file.ts';

if (process.getuid?.() !== 0) throw new Error('run as root inside `unshare -n` (npm run bench does this)');
const inOwnNamespace = execFileSync('ip', ['-o', 'link', 'show']).toString().trim().split('\n').length <= 2;
if (!inOwnNamespace) throw new Error('refusing to run outside a private network namespace');

const NAME = 'ngrokdbench0';
const SUBNET = '10.107.0.0/16';
const address = (i: number): string => `10.107.${(i + 2) >> 8}.${(i + 2) & 255}`;
const ms = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
const round = (n: number): number => Math.round(n * 10) / 10;

const info = ensureInterface({ name: NAME, subnet: SUBNET });

function netlink(n: number): { add_ms: number; remove_ms: number } {
  const ips = Array.from({ length: n }, (_, i) => address(i));
  let t = process.hrtime.bigint();
  setAddresses(NAME, ips);
  const add = ms(t);
  t = process.hrtime.bigint();
  setAddresses(NAME, []);
  return { add_ms: round(add), remove_ms: round(ms(t)) };
}

function ipPerAddress(n: number): { add_ms: number; remove_ms: number } {
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) execFileSync('ip', ['addr', 'add', `${address(i)}/16`, 'dev', NAME]);
  const add = ms(t);
  t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) execFileSync('ip', ['addr', 'del', `${address(i)}/16`, 'dev', NAME]);
  return { add_ms: round(add), remove_ms: round(ms(t)) };
}

/** 10,000 addresses added one by one in one `ip -batch` process: the kernel's own cost per address. */
function ipBatch(n: number): { add_ms: number; remove_ms: number } {
  const lines = (verb: string): string =>
    Array.from({ length: n }, (_, i) => `addr ${verb} ${address(i)}/16 dev ${NAME}`).join('\n');
  let t = process.hrtime.bigint();
  execFileSync('ip', ['-batch', '-'], { input: lines('add') });
  const add = ms(t);
  t = process.hrtime.bigint();
  execFileSync('ip', ['-batch', '-'], { input: lines('del') });
  return { add_ms: round(add), remove_ms: round(ms(t)) };
}

const n200 = netlink(200);
const ip200 = ipPerAddress(200);
const n1k = netlink(1000);
const n10k = netlink(10_000);
const batch10k = ipBatch(10_000);

const dir = mkdtempSync(join(tmpdir(), 'ngrokd-bench-hosts-'));
const hostsPath = join(dir, 'hosts');
writeFileSync(hostsPath, '127.0.0.1 localhost\n::1 localhost ip6-localhost\n# user line\n');
const hosts = new HostsSection({ path: hostsPath, interfaceName: 'ngrokd0', subnet: SUBNET });
const entries = Array.from({ length: 10_000 }, (_, i) => ({ ip: address(i), hostname: `svc-${i}.bench` }));
let t = process.hrtime.bigint();
await hosts.setHosts(entries);
const write10k = ms(t);
t = process.hrtime.bigint();
const again = await hosts.setHosts(entries);
const noop10k = ms(t);
rmSync(dir, { recursive: true, force: true });
destroyInterface(NAME);

process.stdout.write(
  `${JSON.stringify({
    interface_kind: info.kind,
    netlink_200: n200,
    ip_command_per_address_200: ip200,
    speedup_200_add: round(ip200.add_ms / n200.add_ms),
    speedup_200_remove: round(ip200.remove_ms / n200.remove_ms),
    netlink_1000: n1k,
    netlink_10000: n10k,
    netlink_10000_what:
      'setAddresses with 10,000 endpoints: none added one by one (more than 1,000), the local route carries them',
    ip_batch_10000_one_by_one: batch10k,
    hosts_section_10000: {
      write_ms: round(write10k),
      unchanged_rewrite_ms: round(noop10k),
      unchanged_wrote: again.changed,
    },
  })}\n`,
);
