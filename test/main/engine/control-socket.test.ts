/**
 * The daemon's control socket against hostile local clients and impostors: a client that pipelines
 * requests and never reads the replies, a socket directory other users can write, and a "daemon"
 * served by another uid that the CLI must not believe.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type {
  CommandHandlers,
  EndpointView,
  StateSnapshot,
  StateUpdate,
} from '../../../main/common/contract.ts';
import { StateReplica } from '../../../main/common/state-delta.ts';
import type { NgrokdError } from '../../../main/common/errors.ts';
import { startControlServer } from '../../../main/engine/control-socket.ts';
import { StateFeed } from '../../../main/engine/state-feed.ts';
import { callDaemon } from '../../../main/cli/control-client.ts';
import { rootOnly } from '../../support/root-only.ts';
import { endpoint, snapshot } from '../electron/electron-fixtures.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-control-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A status answer of a few kB, like a daemon with a handful of endpoints. */
const bigStatus = { filler: 'x'.repeat(4096) };
const handlers = { status: async () => bigStatus } as unknown as CommandHandlers;
const source = { feed: new StateFeed({ snapshot: () => ({}) as StateSnapshot }) };

test('a client that pipelines 2 MiB of requests and never reads cannot make the daemon buffer its replies', async () => {
  const path = join(dir, 'flood.sock');
  const control = await startControlServer(path, handlers, source);
  const served: Socket[] = [];
  control.server.on('connection', (socket: Socket) => served.push(socket));
  const client = connect(path);
  client.on('error', () => undefined);
  await new Promise((resolve) => client.once('connect', resolve));
  client.pause();
  const line = `${JSON.stringify({ v: 1, id: 1, method: 'status', params: {} })}\n`;
  const payload = Buffer.from(line.repeat(Math.ceil((2 * 1024 * 1024) / line.length)));
  client.write(payload);
  // Watch until the server has stopped taking in more (bytesRead steady) or 20 s pass.
  let last = -1;
  let steady = 0;
  const deadline = Date.now() + 20_000;
  while (steady < 10 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const read = served[0]?.bytesRead ?? 0;
    steady = read === last ? steady + 1 : 0;
    last = read;
  }
  const socket = served[0];
  assert.ok(socket !== undefined);
  assert.ok(socket.bytesRead < payload.length, `the daemon read all ${payload.length} bytes`);
  assert.ok(
    socket.writableLength < 1024 * 1024,
    `${socket.writableLength} bytes of replies queued for a client that never reads`,
  );
  // Once the client reads, every request it sent is answered, in order.
  let answered = 0;
  const replies = createInterface({ input: client });
  const expected = payload.length / line.length;
  await new Promise<void>((resolve) => {
    replies.on('line', () => {
      if (++answered === expected) resolve();
    });
    client.resume();
  });
  assert.equal(answered, expected);
  client.destroy();
  await control.close();
});

test('subscribe answers with the state, then pushes `state` event lines only when it changed', async () => {
  const path = join(dir, 'events.sock');
  let state = { status: { endpoint_count: 0 }, endpoints: [] } as unknown as StateSnapshot;
  const feed = new StateFeed({ snapshot: () => state });
  const control = await startControlServer(path, handlers, { feed });
  const client = connect(path);
  const lines = createInterface({ input: client });
  const received: { id?: number; event?: string; result?: StateSnapshot; data?: StateSnapshot }[] = [];
  const next = (): Promise<(typeof received)[number]> =>
    new Promise((resolve) => lines.once('line', (line) => resolve(JSON.parse(line))));
  try {
    await new Promise((resolve) => client.once('connect', resolve));
    client.write(`${JSON.stringify({ v: 1, id: 7, method: 'subscribe', params: { intervalMs: 100 } })}\n`);
    const reply = await next();
    assert.equal(reply.id, 7);
    assert.equal(reply.result?.status.endpoint_count, 0);
    lines.on('line', (line) => received.push(JSON.parse(line)));
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(received.length, 0, 'nothing changed, nothing pushed (the reply is not repeated)');
    state = { status: { endpoint_count: 3 }, endpoints: [] } as unknown as StateSnapshot;
    await new Promise((r) => setTimeout(r, 350));
    assert.deepEqual(
      received.map((m) => [m.event, m.data?.status.endpoint_count]),
      [['state', 3]],
    );
    client.write(`${JSON.stringify({ v: 1, id: 8, method: 'subscribe', params: { event: 'nope' } })}\n`);
    await new Promise((r) => setTimeout(r, 100));
    assert.match(JSON.stringify(received.at(-1)), /invalid params for subscribe/);
  } finally {
    client.destroy();
    await control.close();
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(feed.size, 0, 'a closed connection leaves the feed');
});

test('subscribe to stateUpdate: a versioned snapshot as the reply, then delta lines carrying only what changed', async () => {
  const path = join(dir, 'deltas.sock');
  const endpoints = Array.from({ length: 50 }, (_, i) => endpoint(`svc-${i}.prod`));
  let state = snapshot(endpoints);
  const feed = new StateFeed({ snapshot: () => structuredClone(state) });
  const control = await startControlServer(path, handlers, { feed });
  const client = connect(path);
  const lines = createInterface({ input: client });
  const received: { event?: string; data: StateUpdate }[] = [];
  try {
    await new Promise((resolve) => client.once('connect', resolve));
    const replyLine = new Promise<string>((resolve) => lines.once('line', resolve));
    client.write(
      `${JSON.stringify({ v: 1, id: 3, method: 'subscribe', params: { event: 'stateUpdate', intervalMs: 100 } })}\n`,
    );
    const reply = JSON.parse(await replyLine) as { id: number; result: StateUpdate };
    assert.equal(reply.id, 3);
    assert.equal(reply.result.kind, 'snapshot');
    lines.on('line', (line) => received.push(JSON.parse(line)));
    const next = [...state.endpoints];
    next[9] = { ...(next[9] as EndpointView), bytes_in: 1234 };
    state = { ...state, endpoints: next };
    while (received.length === 0) await new Promise((r) => setTimeout(r, 20));
    const [line] = received;
    assert.equal(line?.event, 'stateUpdate');
    assert.equal(line.data.kind, 'delta');
    assert.equal(line.data.base, reply.result.version);
    assert.deepEqual(line.data.data, { endpoints: [next[9]] }, 'one endpoint, no status, no order');
    const replica = new StateReplica();
    replica.apply(reply.result);
    replica.apply(line.data);
    assert.deepEqual(replica.state, state);
  } finally {
    client.destroy();
    await control.close();
  }
});

test('a control socket in a directory other users can write is refused', async () => {
  for (const [name, mode] of [
    ['open', 0o777],
    ['sticky', 0o1777],
    ['group', 0o770],
  ] as const) {
    const open = join(dir, name);
    mkdirSync(open);
    chmodSync(open, mode);
    // Root's own group is trusted (see safe-path.ts): as root, the group is somebody else's.
    if (process.getuid?.() === 0) chownSync(open, 0, 65534);
    await assert.rejects(
      startControlServer(join(open, 'ngrokd.sock'), handlers, source),
      (err: NgrokdError) => {
        assert.equal(err.code, 'CONFIG_INVALID');
        assert.match(err.message, new RegExp(`directory ${open} is open to other users`));
        return true;
      },
      name,
    );
  }
});

test(
  'the CLI does not believe a control socket served by another uid',
  { skip: rootOnly('it serves an impostor socket as another uid (setpriv)') },
  async () => {
    chmodSync(dir, 0o755);
    const open = join(dir, 'impostor');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const path = join(open, 'ngrokd.sock');
    const impostor = spawn(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '-e',
        `require('node:net').createServer((s) => s.on('data', () => s.write('{"v":1,"id":1,"result":{"loggedOut":true}}\\n'))).listen(process.argv[1], () => console.log('ready'))`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve, reject) => {
        impostor.once('exit', (code) => reject(new Error(`the impostor exited (${code})`)));
        createInterface({ input: impostor.stdout }).once('line', resolve);
      });
      await assert.rejects(callDaemon(path, 'logout', {}), (err: NgrokdError) => {
        assert.equal(err.code, 'NOT_RUNNING');
        assert.match(err.message, /served by uid 65534, not by you \(uid 0\); not trusting it/);
        return true;
      });
    } finally {
      impostor.kill();
    }
  },
);
