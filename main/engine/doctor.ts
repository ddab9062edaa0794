/**
 * `ngrokd doctor`: ordered checks of everything between `curl http://my-api.ngrok.app/` and the
 * service behind it, each pass | warn | fail with the value it found and the fix. The engine hands
 * in what it knows (doctorContext in engine.ts); everything the checks read from the machine
 * (resolver, listening sockets, interfaces, hosts file) comes through DoctorContext, so tests can
 * put a failure in each place. Checks never change anything and never open a connection through
 * an endpoint (that would be traffic the user did not make).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { X509Certificate } from 'node:crypto';
import type { NetworkInterfaceInfo } from 'node:os';
import type { DoctorCheck, DoctorReport, DoctorStatus, EndpointView } from '../common/contract.ts';
import { toUserFacing, type UserFacingError } from '../common/errors.ts';
import type { HostsEntry, InterfaceInfo, PrivilegeMode } from '../common/privileged.ts';
import { contains, intToIp, parseCidr, parseIpv4 } from '../common/subnet.ts';
import { ADDRESSES_LISTED_UP_TO } from '../common/defaults.ts';
import type { ListeningSocket } from '../system/listening-sockets.ts';
import type { IngressProbe } from './binding/dialer.ts';

/** The hosts file the system resolver reads (both platforms). */
export const SYSTEM_HOSTS_FILE = '/etc/hosts';

/**
 * TLDs on the HSTS preload list as a whole (Chromium's list, which Firefox and Safari follow): a
 * browser rewrites `http://` to `https://` for every name under them before any request is made.
 */
export const HSTS_PRELOADED_TLDS: ReadonlySet<string> = new Set([
  'android', 'app', 'bank', 'boo', 'channel', 'chrome', 'dad', 'day', 'dev', 'eat', 'esq', 'fly',
  'foo', 'gle', 'gmail', 'google', 'hangout', 'how', 'ing', 'insurance', 'meme', 'mov', 'new',
  'nexus', 'page', 'phd', 'prof', 'rsvp', 'soy', 'youtube', 'zip',
]); // prettier-ignore

/** Names resolved (and listeners looked up) at most: 10,000 endpoints must not take minutes. */
export const MAX_NAMES_CHECKED = 500;
/** A resolver answer slower than this counts as none (a hung DNS server behind nsswitch). */
const LOOKUP_TIMEOUT_MS = 3000;
/** Lookups at once (libuv's thread pool has 4 threads; leave room for the daemon's own work). */
const LOOKUPS_AT_ONCE = 3;
/** After this many lookups without an answer the resolver is judged hung. */
const MAX_LOOKUP_TIMEOUTS = 3;
const CERT_WARN_DAYS = 7;
const SKEW_WARN_MS = 60_000;
const SKEW_FAIL_MS = 5 * 60_000;

export interface DoctorContext {
  /** The config problem, null when the config is valid and complete. */
  configProblem: UserFacingError | null;
  /** Ask the API something cheap with the key (the operator when registered); throws the API's error. */
  apiProbe: (() => Promise<{ operatorFound: boolean | null }>) | null;
  operator: { id: string; notAfter: Date; certPem: string } | null;
  /** The API's last answer's Date header minus our clock, null when none came. */
  clockSkewMs: () => number | null;
  /** A fresh TCP + TLS handshake with the ingress; null before the first registration. */
  ingressProbe: (() => Promise<IngressProbe>) | null;
  ingress: string;
  mode: PrivilegeMode;
  helper: { version: string; compatible: boolean } | null;
  appVersion: string;
  interface: InterfaceInfo;
  endpoints: EndpointView[];
  hostsPath: string | null;
  readHosts: () => Promise<HostsEntry[]>;
  /** What overlaps the subnet now (ops.checkNetwork), null when nothing does. */
  subnetConflict: () => Promise<UserFacingError | null>;
  platform: NodeJS.Platform;
  /** getaddrinfo: every answer in order (curl connects to the first, falls back to the next). */
  lookup?: (hostname: string) => Promise<string[]>;
  listeners: () => Promise<ListeningSocket[] | null>;
  networkInterfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** Linux: the interface's IFF_UP flag; null when unknown (no such interface, another platform). */
  interfaceUp: (name: string) => boolean | null;
  /** Linux: whether `ip` is local through a local route on interface `name`; null when unknown. */
  localByRoute?: (ip: string, name: string) => boolean | null;
  now?: () => number;
}

type Result = Omit<DoctorCheck, 'id'>;

const pass = (message: string): Result => ({ status: 'pass', message, fix: null });
const warn = (message: string, fix: string): Result => ({ status: 'warn', message, fix });
const fail = (message: string, fix: string): Result => ({ status: 'fail', message, fix });
const fromError = (status: DoctorStatus, err: unknown, prefix = ''): Result => {
  const e = toUserFacing(err);
  return { status, message: `${prefix}${e.message}`, fix: e.fix };
};

function list(items: readonly string[], max = 5): string {
  return items.length <= max
    ? items.join(', ')
    : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

function ms(value: number): string {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

/** The endpoints that should be on: turned on and with a local address. */
function wanted(ctx: DoctorContext): EndpointView[] {
  return ctx.endpoints.filter((e) => e.enabled);
}

async function defaultLookup(hostname: string): Promise<string[]> {
  return (await dnsLookup(hostname, { family: 0, all: true })).map((a) => a.address);
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Run `fn` over `items`, `width` at a time. */
async function mapLimit<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

// ---- the checks, in order -------------------------------------------------------------------

const fromProblem = (status: DoctorStatus, problem: UserFacingError): Result => ({
  status,
  message: problem.message,
  fix: problem.fix,
});

function checkConfig(ctx: DoctorContext): Result {
  if (ctx.configProblem !== null) return fromProblem('fail', ctx.configProblem);
  return pass('the configuration is valid and has an API key');
}

async function checkApi(ctx: DoctorContext): Promise<Result & { operatorFound: boolean | null }> {
  if (ctx.apiProbe === null)
    return {
      ...fail(
        'the ngrok API was not asked: there is no API key',
        'Set NGROK_API_KEY or api.key (see the config check).',
      ),
      operatorFound: null,
    };
  try {
    const { operatorFound } = await ctx.apiProbe();
    return { ...pass('the ngrok API answered and accepted the API key'), operatorFound };
  } catch (err) {
    return { ...fromError('fail', err), operatorFound: null };
  }
}

function checkRegistration(ctx: DoctorContext, apiOk: boolean, operatorFound: boolean | null): Result {
  if (ctx.operator === null)
    return fail(
      'this machine is not registered with ngrok (no Kubernetes operator yet)',
      apiOk
        ? 'Wait for the next poll, or see `npm run ngrokd -- status` for the registration error.'
        : 'Fix the API check above; registration happens on the next poll.',
    );
  if (operatorFound === false)
    return fail(
      `the registration ${ctx.operator.id} no longer exists at ngrok (deleted in the dashboard or by another machine)`,
      'Restart the daemon: it registers this machine again on the next start.',
    );
  return pass(`registered as operator ${ctx.operator.id}`);
}

function checkCertificate(ctx: DoctorContext): Result {
  if (ctx.operator === null)
    return fail('there is no client certificate (not registered)', 'See the registration check.');
  const now = (ctx.now ?? Date.now)();
  let notAfter = ctx.operator.notAfter.getTime();
  try {
    notAfter = new Date(new X509Certificate(ctx.operator.certPem).validTo).getTime();
  } catch {
    // the registration's own date stands
  }
  const days = (notAfter - now) / 86_400_000;
  const until = new Date(notAfter).toISOString();
  if (days <= 0)
    return fail(
      `the client certificate expired on ${until}`,
      'Check the API check (renewal needs the API), then restart the daemon to renew it.',
    );
  if (days < CERT_WARN_DAYS)
    return warn(
      `the client certificate expires in ${days.toFixed(1)} days (${until}) and has not been renewed yet`,
      'Renewal needs the ngrok API: fix the API check, or restart the daemon to try now.',
    );
  return pass(`the client certificate is valid for ${Math.floor(days)} more days (until ${until})`);
}

async function checkIngress(ctx: DoctorContext): Promise<Result> {
  if (ctx.ingressProbe === null)
    return fail(
      `the ingress ${ctx.ingress} was not tried: not registered yet`,
      'See the registration check.',
    );
  try {
    const p = await ctx.ingressProbe();
    return pass(
      `the ingress ${p.ingress}${p.address === null ? '' : ` (${p.address})`} is reachable: round trip ${ms(p.tcpMs)}, ` +
        `TLS handshake ${ms(p.tlsMs)} (${p.protocol ?? 'TLS'}, ${p.cipher}), certificate verified` +
        (p.serverCertificate === null ? '' : ` (${p.serverCertificate})`) +
        `; ${p.earlyData}`,
    );
  } catch (err) {
    return fromError('fail', err);
  }
}

function checkPrivilege(ctx: DoctorContext): Result {
  if (ctx.mode === 'user')
    return warn(
      'user mode: endpoints listen on loopback addresses, privileged ports are mapped to high ones',
      'For real addresses and ports on ngrokd0, install the helper (`npm run ngrokd -- helper install`) or run as root.',
    );
  if (ctx.mode === 'root')
    return pass('root mode: this process manages the interface and the hosts file itself');
  if (ctx.helper === null)
    return fail(
      'helper mode, but the helper has not answered yet',
      'Check `npm run ngrokd -- helper status`.',
    );
  if (!ctx.helper.compatible || ctx.helper.version !== ctx.appVersion)
    return warn(
      `the helper is version ${ctx.helper.version}, this app ${ctx.appVersion}`,
      "Update the helper: `npm run ngrokd -- helper install` (or the desktop app's Settings → Helper).",
    );
  return pass(`helper mode: the privileged helper ${ctx.helper.version} answers`);
}

function interfaceAddresses(ctx: DoctorContext): Set<string> | null {
  const entries = ctx.networkInterfaces()[ctx.interface.name];
  return entries === undefined ? null : new Set(entries.map((a) => a.address));
}

function checkInterface(ctx: DoctorContext): Result {
  const { name, subnet, kind } = ctx.interface;
  if (kind === 'loopback') return pass(`loopback addresses in ${subnet} (user mode needs no interface)`);
  const addresses = interfaceAddresses(ctx);
  const gateway = intToIp(parseCidr(subnet, 'net.subnet').gateway);
  // Before the addresses: Node lists only interfaces that are up, so a down one looks absent.
  if (ctx.interfaceUp(name) === false)
    return fail(
      `the interface ${name} is down`,
      `Bring it up (\`sudo ip link set ${name} up\`) or restart the daemon.`,
    );
  if (addresses === null)
    return fail(
      `the interface ${name} does not exist`,
      'Restart the daemon (it creates the interface), or run `npm run ngrokd -- cleanup` first.',
    );
  if (!addresses.has(gateway))
    return fail(
      `the interface ${name} lacks its gateway address ${gateway}`,
      'Restart the daemon: it sets the gateway address again.',
    );
  return pass(`the interface ${name} (${kind}) is up with gateway ${gateway} in ${subnet}`);
}

function checkAddresses(ctx: DoctorContext): Result {
  const endpoints = wanted(ctx);
  if (endpoints.length === 0) return pass('no endpoint is on, so no address is needed');
  if (ctx.interface.kind === 'loopback') {
    if (ctx.platform === 'linux')
      return pass(
        `${endpoints.length} loopback address(es) in ${ctx.interface.subnet} (all of 127.0.0.0/8 is local on Linux)`,
      );
    const lo = new Set(
      Object.values(ctx.networkInterfaces()).flatMap((a) => (a ?? []).map((x) => x.address)),
    );
    const missing = endpoints.filter((e) => !lo.has(e.ip)).map((e) => e.ip);
    return missing.length === 0
      ? pass(`all ${endpoints.length} loopback addresses exist`)
      : fail(
          `missing loopback addresses: ${list(missing)}`,
          'Restart the daemon, or add them with `sudo ifconfig lo0 alias IP`.',
        );
  }
  const { name: link, subnet } = ctx.interface;
  const addresses = interfaceAddresses(ctx) ?? new Set<string>();
  const missing = endpoints.filter((e) => !addresses.has(e.ip));
  if (missing.length === 0) return pass(`all ${endpoints.length} endpoint addresses are on ${link}`);
  const named = list(missing.map((e) => `${e.ip} (${e.hostname})`));
  // Linux lists each address only up to ADDRESSES_LISTED_UP_TO (counted as setAddresses does: the
  // distinct addresses of every endpoint, turned off or not); the subnet's local route carries them
  // all, and one address stands for the whole route.
  const listed =
    ctx.platform !== 'linux' || new Set(ctx.endpoints.map((e) => e.ip)).size <= ADDRESSES_LISTED_UP_TO;
  const routed = listed ? false : (ctx.localByRoute?.((missing[0] as EndpointView).ip, link) ?? null);
  if (!listed && routed === true)
    return pass(
      `all ${endpoints.length} endpoint addresses are local through the local route for ${subnet} on ${link} (more than ${ADDRESSES_LISTED_UP_TO}: \`ip addr\` lists only the gateway)`,
    );
  if (!listed && routed === null)
    return warn(
      `${missing.length} endpoint address(es) are not listed on ${link}, as expected beyond ${ADDRESSES_LISTED_UP_TO}, but whether the local route for ${subnet} carries them could not be read`,
      `Check \`ip route show table local dev ${link}\` shows ${subnet}; restarting the daemon puts it back.`,
    );
  if (!listed)
    return fail(
      `${link} has no local route for ${subnet}: ${named} cannot be reached`,
      `Restart the daemon: it routes the subnet locally again (\`ip route show table local dev ${link}\` shows it).`,
    );
  return fail(
    `${missing.length} endpoint address(es) are missing on ${link}: ${named}`,
    'Something removed them (a network manager?): restart the daemon, and keep that tool away from the interface.',
  );
}

async function checkHosts(ctx: DoctorContext): Promise<Result> {
  const expected = new Map(
    wanted(ctx)
      .filter((e) => e.listening)
      .map((e) => [e.hostname, e.ip]),
  );
  if (ctx.hostsPath === null)
    return warn(
      'no hosts file is managed (user mode and /etc/hosts is not writable): hostnames do not resolve here',
      'Use the addresses `npm run ngrokd -- list` shows, set hostsPath to a file you own, or install the helper.',
    );
  let entries: HostsEntry[];
  try {
    entries = await ctx.readHosts();
  } catch (err) {
    return fromError('fail', err, `the hosts file ${ctx.hostsPath} cannot be read: `);
  }
  const found = new Map(entries.map((e) => [e.hostname, e.ip]));
  const missing = [...expected].filter(([h]) => !found.has(h)).map(([h]) => h);
  const stale = [...found].filter(([h]) => !expected.has(h)).map(([h]) => h);
  const wrong = [...expected]
    .filter(([h, ip]) => found.has(h) && found.get(h) !== ip)
    .map(([h, ip]) => `${h} (${found.get(h)} instead of ${ip})`);
  const problems = [
    missing.length === 0 ? '' : `missing ${list(missing)}`,
    stale.length === 0 ? '' : `stale ${list(stale)}`,
    wrong.length === 0 ? '' : `wrong address for ${list(wrong)}`,
  ].filter((p) => p !== '');
  if (problems.length > 0)
    return fail(
      `the ngrokd section of ${ctx.hostsPath} does not match the endpoints: ${problems.join('; ')}`,
      'The daemon rewrites it on the next poll; if it stays wrong, check that nothing else edits the file (see `status` for hosts errors).',
    );
  return pass(`the ngrokd section of ${ctx.hostsPath} has the ${expected.size} hostname(s) that listen`);
}

async function checkResolve(ctx: DoctorContext): Promise<Result> {
  const endpoints = wanted(ctx).filter((e) => e.listening);
  if (endpoints.length === 0) return pass('no hostname to resolve (no endpoint listens)');
  if (ctx.hostsPath !== SYSTEM_HOSTS_FILE)
    return warn(
      `hostnames are written to ${ctx.hostsPath ?? 'no hosts file'}, which the system resolver does not read`,
      'Use the addresses from `npm run ngrokd -- list` (or curl --resolve), or let ngrokd manage /etc/hosts (helper or root).',
    );
  const lookup = ctx.lookup ?? defaultLookup;
  const checked = endpoints.slice(0, MAX_NAMES_CHECKED);
  // getaddrinfo runs on libuv's 4 threads: a few at a time (a queued lookup's timeout would start
  // before it does), and a hung resolver stops the check after a few timeouts, not 500 of them.
  let timeouts = 0;
  let skipped = 0;
  const results = await mapLimit(checked, LOOKUPS_AT_ONCE, async (e) => {
    if (timeouts >= MAX_LOOKUP_TIMEOUTS) {
      skipped++;
      return null;
    }
    try {
      const addresses = await withTimeout(lookup(e.hostname), LOOKUP_TIMEOUT_MS, e.hostname);
      const others = addresses.filter((a) => a !== e.ip);
      if (others.length === 0) return null;
      return addresses[0] === e.ip
        ? `${e.hostname} → ${e.ip}, but also ${others.join(', ')}`
        : `${e.hostname} → ${addresses.join(', ')} (expected ${e.ip})`;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === undefined) timeouts++;
      return `${e.hostname} does not resolve (${code ?? (err as Error).message})`;
    }
  });
  if (skipped > 0)
    return fail(
      `the system resolver does not answer: ${timeouts} lookups got no answer within ${LOOKUP_TIMEOUT_MS} ms, so ${skipped} more names were not checked`,
      'Check /etc/nsswitch.conf and the DNS servers in /etc/resolv.conf (a VPN resolver that is down?); names in /etc/hosts should answer at once.',
    );
  const bad = results.filter((r): r is string => r !== null);
  const of = checked.length < endpoints.length ? ` (the first ${checked.length} of ${endpoints.length})` : '';
  if (bad.length > 0)
    return fail(
      `the system resolver (getaddrinfo) gives other answers than the hosts section${of}: ${list(bad, 3)}`,
      'Look for a line for that name above the ngrokd section in /etc/hosts, a DNS-first "hosts:" line in /etc/nsswitch.conf, or a VPN resolver; remove the shadowing entry.',
    );
  return pass(`every hostname${of} resolves to its address through the system resolver`);
}

async function checkListeners(ctx: DoctorContext): Promise<Result> {
  const endpoints = wanted(ctx);
  const sockets = await ctx.listeners();
  if (sockets === null)
    return warn(
      `listening sockets cannot be read on ${ctx.platform}`,
      'Nothing to do; this check is skipped here.',
    );
  const notListening = endpoints.filter((e) => !e.listening);
  const subnet = parseCidr(ctx.interface.subnet);
  const foreign = sockets.filter((s) => !s.ours && parseIpv4(s.ip) !== null && contains(subnet, s.ip));
  const byAddress = new Map(sockets.map((s) => [`${s.ip}:${s.port}`, s]));
  const wildcard = new Map(
    sockets.filter((s) => !s.ours && (s.ip === '0.0.0.0' || s.ip === '::')).map((s) => [s.port, s]),
  );
  const owner = (s: ListeningSocket): string => (s.pid === null ? 'another process' : `process ${s.pid}`);
  const problems: string[] = [];
  for (const s of foreign) problems.push(`${owner(s)} listens on ${s.ip}:${s.port}`);
  for (const e of notListening.slice(0, MAX_NAMES_CHECKED)) {
    const w = wildcard.get(e.listen_port);
    problems.push(
      `${e.ip}:${e.listen_port} (${e.hostname}) has no listener` +
        (w === undefined ? '' : `; ${owner(w)} holds *:${e.listen_port}`),
    );
  }
  for (const e of endpoints.filter((x) => x.listening).slice(0, MAX_NAMES_CHECKED)) {
    const s = byAddress.get(`${e.ip}:${e.listen_port}`);
    if (s === undefined)
      problems.push(`${e.ip}:${e.listen_port} (${e.hostname}) is not listening although it should`);
  }
  if (problems.length > 0)
    return fail(
      `${list(problems, 3)}`,
      'Stop the other program (`sudo ss -ltnp` or `lsof -iTCP -sTCP:LISTEN` names it), then toggle ngrokd off and on.',
    );
  return pass(`ngrokd alone listens on its ${endpoints.filter((e) => e.listening).length} address(es)`);
}

async function checkSubnet(ctx: DoctorContext): Promise<Result> {
  try {
    const conflict = await ctx.subnetConflict();
    if (conflict !== null) return fromProblem('fail', conflict);
  } catch (err) {
    return fromError('warn', err, 'the subnet could not be checked: ');
  }
  return pass(`nothing else on this machine uses ${ctx.interface.subnet} (no overlapping address or route)`);
}

function checkHsts(ctx: DoctorContext): Result {
  const affected = ctx.endpoints
    .filter((e) => e.proto === 'http' && HSTS_PRELOADED_TLDS.has(e.hostname.split('.').at(-1) ?? ''))
    .map((e) => e.hostname);
  if (affected.length === 0) return pass('no http endpoint is under an HSTS-preloaded TLD');
  const tlds = [...new Set(affected.map((h) => `.${h.split('.').at(-1)}`))];
  return warn(
    `${list(affected, 3)} ${affected.length === 1 ? 'is an http endpoint' : 'are http endpoints'} under ${tlds.join(', ')}, ` +
      'which browsers force to https (HSTS preload): http:// links will not open in a browser',
    'Use curl or another non-browser client for these, or expose the service as a tls:// or https endpoint.',
  );
}

function checkClock(ctx: DoctorContext): Result {
  const skew = ctx.clockSkewMs();
  if (skew === null)
    return warn('the clock was not compared: no answer from the ngrok API yet', 'See the API check.');
  // The Date header has whole seconds (truncated): within 2 s is in step.
  const seconds = Math.abs(skew) < 2000 ? 0 : Math.round(skew / 1000);
  const how = seconds === 0 ? 'in step' : `${Math.abs(seconds)} s ${seconds > 0 ? 'behind' : 'ahead of'}`;
  const message = `this machine's clock is ${how}${seconds === 0 ? ' with' : ''} the ngrok API's (its Date header)`;
  if (Math.abs(skew) >= SKEW_FAIL_MS)
    return fail(
      message,
      'Turn on network time (`timedatectl set-ntp true`, or System Settings → Date & Time); certificates fail to verify with a clock this far off.',
    );
  if (Math.abs(skew) >= SKEW_WARN_MS)
    return warn(
      message,
      'Turn on network time (`timedatectl set-ntp true`, or System Settings → Date & Time).',
    );
  return pass(message);
}

/** Every check, in order. */
export async function runDoctor(ctx: DoctorContext): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (id: string, r: Result): Result => {
    checks.push({ id, ...r });
    return r;
  };
  add('config', checkConfig(ctx));
  const { operatorFound, ...api } = await checkApi(ctx);
  add('api', api);
  add('registration', checkRegistration(ctx, api.status === 'pass', operatorFound));
  add('certificate', checkCertificate(ctx));
  add('ingress', await checkIngress(ctx));
  add('privilege', checkPrivilege(ctx));
  add('interface', checkInterface(ctx));
  add('addresses', checkAddresses(ctx));
  add('hosts', await checkHosts(ctx));
  add('resolve', await checkResolve(ctx));
  add('listeners', await checkListeners(ctx));
  add('subnet', await checkSubnet(ctx));
  add('hsts', checkHsts(ctx));
  add('clock', checkClock(ctx));
  return { checks };
}

/** The config check as this process can make it (the CLI, when no daemon answers). */
export function configCheck(problem: UserFacingError | null, source: string): Result {
  return problem === null
    ? pass(`the configuration (${source}) is valid and has an API key`)
    : fromError('fail', problem);
}

/** The report without a daemon: the config as loaded here, and the daemon's absence. */
export function offlineReport(config: Result, daemon: UserFacingError): DoctorReport {
  return {
    checks: [
      { id: 'config', status: config.status, message: config.message, fix: config.fix },
      { id: 'daemon', status: 'fail', message: daemon.message, fix: daemon.fix },
    ],
  };
}
