/**
 * The privileged helper end to end, run as root inside `unshare -n` by test/integration/helper.test.ts
 * (so nothing touches the real network or /etc/hosts): the helper daemon (helper/main.ts) with a
 * temp hosts file, an app client as an unprivileged uid, a refused uid, fuzzed frames, a helper
 * restart and a client crash. Prints one JSON object with everything observed; the test asserts.
 *   node helper-scenario.ts TEMPDIR
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { interfaceExists, listAddresses } from '../../../main/system/linux/interface.ts';
import { decodeResponse, FrameReader, MAX_FRAME_BYTES } from '../../../helper/protocol.ts';
import { HelperClientOps } from '../../../helper/client/helper-client.ts';
import { ALLOWED_UID, OTHER_UID, SCENARIO_INTERFACE } from './helper-fixture.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLIENT = join(ROOT, 'test/integration/netns/helper-client.ts');
const GRACE_MS = 300;
const USER_LINES = '127.0.0.1 localhost\n# a comment the user wrote\n10.0.0.5 nas.home\n';

const dir = process.argv[2] ?? '';
if (dir === '') throw new Error('usage: helper-scenario.ts TEMPDIR');
const socketPath = join(dir, 'helper.sock');
const hostsPath = join(dir, 'hosts');
const helperLog: string[] = [];

function startHelper(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'helper/main.ts'),
      '--socket',
      socketPath,
      '--uid',
      String(ALLOWED_UID),
      '--hosts-path',
      hostsPath,
      '--grace-ms',
      String(GRACE_MS),
      '--state-dir',
      join(dir, 'helper-state'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`helper exited (${code}) before listening:\n${helperLog.join('\n')}`)),
    );
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      helperLog.push(line);
      if (line.includes('"msg":"helper listening"')) resolve(child);
    });
  });
}

async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

/** Run the app client as `uid` (real and effective ids, no supplementary groups). */
function spawnClient(uid: number, mode: 'serve' | 'hello'): ChildProcess {
  return spawn(
    'setpriv',
    [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, CLIENT, mode, socketPath],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: dir },
  );
}

function firstLine(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`client exited (${code}) without output`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
      resolve(JSON.parse(line) as Record<string, unknown>),
    );
  });
}

/** Connect to ip:port and return everything the server sends. */
function fetchText(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

function observe() {
  const hosts = readFileSync(hostsPath, 'latin1');
  return {
    hosts,
    addresses: listAddresses(SCENARIO_INTERFACE.name).sort(),
    interfaceExists: interfaceExists(SCENARIO_INTERFACE.name),
  };
}

/** Poll until `done` holds (or 10 s pass); returns the last observation and whether it held. */
async function until<T>(look: () => T, done: (value: T) => boolean): Promise<{ held: boolean; value: T }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = look();
    if (done(value)) return { held: true, value };
    if (Date.now() > deadline) return { held: false, value };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---------------------------------------------------------------------------------------------
// Fuzzing

function randomValue(): unknown {
  const values = [
    null,
    true,
    -1,
    0,
    1.5,
    2 ** 53,
    'x'.repeat(randomInt(0, 300)),
    [],
    [1, 'a'],
    {},
    { a: 1 },
    '10.107.0.2',
  ];
  return values[randomInt(values.length)];
}

const VALID_PARAMS: Record<string, Record<string, unknown>> = {
  hello: { version: 'fuzz', protocol: 1 },
  ensureInterface: { name: 'ngrokd0', subnet: '10.107.0.0/16' },
  setAddresses: { ips: ['10.107.0.2'] },
  setHosts: { entries: [{ ip: '10.107.0.2', hostname: 'a.b' }] },
  listen: { ip: '10.107.0.2', port: 80 },
  teardown: {},
};

const INVALID_IDS = [-1, 1.5, 2 ** 31, 2 ** 53, '7', null, [], {}];

/**
 * A request the helper must refuse. Never a valid hello (a hello with a wrong field is still
 * invalid), so the fuzz connection can never be greeted, take control or change anything.
 */
function invalidRequest(i: number): Buffer {
  const kind = i % 8;
  const methods = Object.keys(VALID_PARAMS);
  const method = methods[randomInt(methods.length)] as string;
  const params = { ...VALID_PARAMS[method] };
  if (kind === 0) return randomBytes(randomInt(0, 64));
  if (kind === 1) return Buffer.from(JSON.stringify(randomValue()));
  if (kind === 2)
    return Buffer.from(JSON.stringify({ id: INVALID_IDS[i % INVALID_IDS.length], method, params }));
  if (kind === 3) return Buffer.from(JSON.stringify({ id: i, method: `${method}X${i}`, params }));
  if (kind === 4) return Buffer.from(JSON.stringify({ id: i, method, params, extra: randomValue() }));
  if (kind === 5) {
    // A wrong value for one field; for hello, only its number field (any short string is a version).
    if (method === 'hello') {
      return Buffer.from(
        JSON.stringify({ id: i, method, params: { ...params, protocol: ['1', -1, 0.5, null][i % 4] } }),
      );
    }
    const keys = Object.keys(params);
    const key = keys.length > 0 ? (keys[randomInt(keys.length)] as string) : 'unexpected';
    let value = randomValue();
    if (JSON.stringify(value) === JSON.stringify(params[key])) value = { wrong: true };
    return Buffer.from(JSON.stringify({ id: i, method, params: { ...params, [key]: value } }));
  }
  if (kind === 6) {
    const bad: Record<string, unknown> = {
      hello: { version: '', protocol: 1 },
      ensureInterface: { name: 'ngrokd0' },
      // Over the count cap once; otherwise a wrong element type.
      setAddresses: { ips: i === 6 ? Array.from({ length: 65_537 }, () => '10.107.0.2') : ['10.107.0.2', 5] },
      setHosts: { entries: [{ ip: '10.107.0.2', hostname: 'a.b', extra: 1 }] },
      listen: { ip: '10.107.0.2', port: [0, 65_536, 80.5, -1][i % 4] },
      teardown: { now: true },
    };
    return Buffer.from(JSON.stringify({ id: i, method, params: bad[method] }));
  }
  // Well-formed, but before hello: refused without touching anything.
  return Buffer.from(
    JSON.stringify({
      id: i,
      method: method === 'hello' ? 'teardown' : method,
      params: method === 'hello' ? {} : params,
    }),
  );
}

function framed(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** Send `data`, then read replies until `expected` arrived or the helper closed. */
async function exchangeRaw(data: Buffer, expected: number, endAfterWrite: boolean) {
  const socket = connect(socketPath);
  await once(socket, 'connect');
  const reader = new FrameReader();
  const codes: string[] = [];
  let okReplies = 0;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => {
    for (const payload of reader.push(chunk)) {
      const response = decodeResponse(payload);
      if (response.ok) okReplies++;
      else codes.push(response.error.code);
      if (codes.length + okReplies >= expected) socket.end();
    }
  });
  socket.write(data);
  if (endAfterWrite) socket.end();
  await closed;
  return { codes, okReplies };
}

async function fuzz() {
  // 1. 2,000 invalid requests in one burst on one connection: each gets its own error reply.
  const burst = Array.from({ length: 2000 }, (_, i) => framed(invalidRequest(i)));
  const invalid = await exchangeRaw(Buffer.concat(burst), burst.length, false);
  // 2. Raw garbage, 300 connections: the first 4 bytes are almost always an oversize length.
  let garbageReplies = 0;
  for (let i = 0; i < 300; i++) {
    const result = await exchangeRaw(randomBytes(randomInt(1, 512)), 1, true);
    garbageReplies += result.codes.length + result.okReplies;
  }
  // 3. Oversize lengths: refused with one reply, then the connection is closed.
  const oversize: string[][] = [];
  for (const length of [MAX_FRAME_BYTES + 1, 0x7fffffff, 0xffffffff]) {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(length, 0);
    oversize.push((await exchangeRaw(header, 2, false)).codes);
  }
  // 4. Truncated frames: the helper waits for the rest, then sees the close.
  for (let i = 0; i < 30; i++) await exchangeRaw(framed(randomBytes(100)).subarray(0, 10), 1, true);
  return {
    frames: burst.length + 300 + oversize.length + 30,
    invalidReplies: invalid.codes.length,
    invalidOk: invalid.okReplies,
    invalidCodes: [...new Set(invalid.codes)],
    garbageReplies,
    oversize,
  };
}

// ---------------------------------------------------------------------------------------------

execFileSync('ip', ['link', 'set', 'lo', 'up']);
chmodSync(dir, 0o755);
writeFileSync(hostsPath, USER_LINES, { mode: 0o644 });

const results: Record<string, unknown> = { userLines: USER_LINES };
let helper = await startHelper();
const app = spawnClient(ALLOWED_UID, 'serve');
try {
  results.ready = await firstLine(app);
  results.afterSetup = observe();
  results.throughPort80 = await fetchText('10.107.0.2', 80);

  const stranger = spawnClient(OTHER_UID, 'hello');
  results.stranger = await firstLine(stranger);
  results.refusalLogged = helperLog.some(
    (line) => line.includes('"msg":"refused connection"') && line.includes(`"uid":${OTHER_UID}`),
  );
  const probe = spawnClient(ALLOWED_UID, 'hello');
  results.probe = await firstLine(probe);
  const takeovers = () => helperLog.filter((line) => line.includes('"msg":"client took control"')).length;
  const takeoversBeforeFuzz = takeovers();

  results.fuzz = await fuzz();
  results.helperAliveAfterFuzz = helper.exitCode === null && helper.signalCode === null;
  results.takeoversDuringFuzz = takeovers() - takeoversBeforeFuzz;
  results.takeoversBeforeFuzz = takeoversBeforeFuzz;
  const rootClient = new HelperClientOps({ appVersion: 'scenario', socketPath });
  results.helloAfterFuzz = await rootClient.connect();
  rootClient.close();
  results.throughPort80AfterFuzz = await fetchText('10.107.0.2', 80);

  // The helper stops (SIGTERM cleans up) and comes back: the app notices and re-asserts.
  await stop(helper, 'SIGTERM');
  results.afterHelperStop = observe();
  helper = await startHelper();
  results.afterHelperRestart = await until(
    observe,
    (o) => o.hosts.includes('my-api.ngrok.app') && o.addresses.length === 3,
  );
  results.throughPort80AfterRestart = await fetchText('10.107.0.2', 80);

  // The app crashes: after the grace period the hosts section, addresses and interface are gone.
  await stop(app, 'SIGKILL');
  // The three reads in observe() are not atomic: wait until all of them agree.
  results.afterAppCrash = await until(
    observe,
    (o) => !o.hosts.includes('ngrokd') && !o.interfaceExists && o.addresses.length === 0,
  );
} catch (err) {
  results.error = err instanceof Error ? err.stack : String(err);
} finally {
  await stop(app, 'SIGKILL');
  await stop(helper, 'SIGTERM');
  results.helperLogLines = helperLog.length;
  process.stdout.write(`${JSON.stringify(results)}\n`);
}
