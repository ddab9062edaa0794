import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IpcMainInvokeEvent } from 'electron';
import { commands, type CommandHandlers, type CommandName } from '../../../main/common/contract.ts';
import { INVOKE_CHANNEL, STATE_CHANNEL, type InvokeReply } from '../../../main/electron/bridge.ts';
import {
  registerBridge,
  WindowSubscriptions,
  type IpcMainLike,
  type PushTarget,
} from '../../../main/electron/ipc.ts';
import { EngineHost, type DaemonLike } from '../../../main/electron/engine-host.ts';
import type { PathChange } from '../../../main/engine/path-monitor.ts';
import { StateFeed } from '../../../main/engine/state-feed.ts';
import type { StateSnapshot, StateUpdate } from '../../../main/common/contract.ts';
import { StateReplica } from '../../../main/common/state-delta.ts';
import { endpoint, snapshot } from './electron-fixtures.ts';

/** Handlers that record what reached them. */
function fakeHandlers(calls: Array<[string, unknown]>): CommandHandlers {
  const state = snapshot([endpoint('web.prod')]);
  const results: Record<CommandName, unknown> = {
    hello: { protocol: 1, version: '0.1.0' },
    status: state.status,
    list: state.endpoints,
    setEnabled: state.status,
    logout: { deleted: true },
    setApiKey: state.status,
    getSettings: {},
    updateSettings: {},
    desktopAction: { done: true, message: 'done', settings: {} },
    requests: [],
    setEndpoint: [],
    request: {},
    replay: {},
    doctor: { checks: [] },
  };
  return Object.fromEntries(
    Object.keys(commands).map((name) => [
      name,
      (params: unknown) => {
        calls.push([name, params]);
        return results[name as CommandName];
      },
    ]),
  ) as CommandHandlers;
}

class FakeContents implements PushTarget {
  readonly id: number;
  sent: Array<[string, unknown]> = [];
  destroyed = false;
  #onDestroyed: Array<() => void> = [];
  constructor(id: number) {
    this.id = id;
  }
  send(channel: string, data: unknown): void {
    this.sent.push([channel, data]);
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  once(_event: 'destroyed', listener: () => void): void {
    this.#onDestroyed.push(listener);
  }
  destroy(): void {
    this.destroyed = true;
    for (const l of this.#onDestroyed) l();
  }
}

type Listener = (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown;

function setup(now: () => number = Date.now) {
  const calls: Array<[string, unknown]> = [];
  const registered = new Map<string, Listener>();
  const ipcMain: IpcMainLike = {
    handle: (channel, listener) => registered.set(channel, listener),
    removeHandler: (channel) => registered.delete(channel),
  };
  let state: StateSnapshot = snapshot([endpoint('web.prod')]);
  const feed = new StateFeed({ snapshot: () => state, now });
  const windows = new WindowSubscriptions(feed);
  const setState = (next: StateSnapshot): void => {
    state = next;
  };
  const unregister = registerBridge(ipcMain, fakeHandlers(calls), windows);
  const contents = new FakeContents(7);
  const invoke = async (
    method: unknown,
    params: unknown,
    frame: { url: string; parent: unknown } | null = { url: 'app://ngrokd/index.html', parent: null },
  ): Promise<InvokeReply> => {
    const listener = registered.get(INVOKE_CHANNEL);
    assert.ok(listener, 'the invoke channel is registered');
    const event = { senderFrame: frame, sender: contents } as unknown as IpcMainInvokeEvent;
    return (await listener(event, method, params)) as InvokeReply;
  };
  return { calls, registered, feed, windows, setState, contents, invoke, unregister };
}

function errorOf(reply: InvokeReply) {
  assert.equal(reply.ok, false, `expected an error, got ${JSON.stringify(reply)}`);
  return (reply as Extract<InvokeReply, { ok: false }>).error;
}

test('one channel serves every contract command; good calls reach the engine handlers', async () => {
  const { calls, registered, invoke, unregister } = setup();
  assert.deepEqual([...registered.keys()], [INVOKE_CHANNEL]);
  assert.deepEqual(await invoke('setEnabled', { enabled: false }), {
    ok: true,
    result: snapshot([endpoint('web.prod')]).status,
  });
  await invoke('updateSettings', { poll_interval: 5, traffic_title: true });
  await invoke('status', undefined);
  assert.deepEqual(calls, [
    ['setEnabled', { enabled: false }],
    ['updateSettings', { poll_interval: 5, traffic_title: true }],
    ['status', {}],
  ]);
  unregister();
  assert.equal(registered.size, 0);
});

test('a sender that is not the top frame of app://ngrokd is refused before anything runs', async () => {
  const { calls, invoke } = setup();
  const refused = [
    null,
    { url: 'https://evil.example/', parent: null },
    { url: 'file:///tmp/index.html', parent: null },
    { url: 'app://other/index.html', parent: null },
    { url: 'app://ngrokd/index.html', parent: { url: 'app://ngrokd/index.html' } },
  ];
  for (const frame of refused) {
    const error = errorOf(await invoke('setEnabled', { enabled: false }, frame));
    assert.equal(error.code, 'PROTOCOL_ERROR');
    assert.match(error.message, /does not come from the ngrokd window/);
  }
  assert.deepEqual(calls, []);
});

test('bad params and unknown commands are rejected with the reason, never reaching the engine', async () => {
  const { calls, invoke } = setup();
  const cases: Array<[unknown, unknown, RegExp]> = [
    ['setEnabled', { enabled: 'yes' }, /invalid params for setEnabled/],
    ['setEnabled', {}, /invalid params for setEnabled/],
    ['setEnabled', { enabled: true, extra: 1 }, /invalid params for setEnabled/],
    ['setApiKey', { apiKey: 'not a key!' }, /invalid params for setApiKey/],
    ['updateSettings', { subnet: '10.0.0.0/33' }, /invalid params for updateSettings/],
    ['updateSettings', { launch_at_login: 'true' }, /invalid params for updateSettings/],
    ['subscribe', { intervalMs: 1 }, /invalid params for subscribe/],
    ['deleteEverything', {}, /unknown method "deleteEverything"/],
    ['__proto__', {}, /unknown method/],
    [42, {}, /unknown method 42/],
    ['status', 'params', /invalid params for status/],
  ];
  for (const [method, params, pattern] of cases) {
    const error = errorOf(await invoke(method, params));
    assert.match(error.message, pattern, `${String(method)} ${JSON.stringify(params)}`);
    assert.ok(error.fix.length > 0);
  }
  assert.deepEqual(calls, []);
});

test('handler errors travel as values with code and fix', async () => {
  const host = new EngineHost(async () => {
    throw new Error('never started');
  });
  const registered = new Map<string, Listener>();
  registerBridge(
    { handle: (c, l) => registered.set(c, l), removeHandler: () => undefined },
    host.handlers,
    new WindowSubscriptions(new StateFeed({ snapshot: () => host.snapshot() })),
  );
  const event = {
    senderFrame: { url: 'app://ngrokd/', parent: null },
    sender: new FakeContents(1),
  } as unknown as IpcMainInvokeEvent;
  const reply = (await registered.get(INVOKE_CHANNEL)?.(event, 'status', {})) as InvokeReply;
  const error = errorOf(reply);
  assert.equal(error.code, 'NOT_RUNNING');
  assert.match(error.fix, /Try again/);
});

test('subscribe returns the state, then pushes only changes, at most every 500 ms', async () => {
  let now = 0;
  const { feed, windows, setState, contents, invoke } = setup(() => now);
  const reply = await invoke('subscribe', { intervalMs: 100 });
  assert.deepEqual(reply, { ok: true, result: snapshot([endpoint('web.prod')]) });
  assert.equal(windows.size, 1);
  feed.tick();
  now += 600;
  feed.tick();
  assert.deepEqual(
    contents.sent,
    [],
    'the subscribe result is not pushed again, unchanged state is not pushed',
  );
  const next = snapshot([endpoint('web.prod', { bytes_in: 10 })]);
  setState(next);
  feed.tick();
  assert.deepEqual(contents.sent, [[STATE_CHANNEL, next]]);
  const third = snapshot([endpoint('web.prod', { bytes_in: 20 })]);
  setState(third);
  now += 100;
  feed.tick();
  assert.equal(contents.sent.length, 1, 'throttled');
  now += 400;
  feed.tick();
  assert.deepEqual(contents.sent.at(-1), [STATE_CHANNEL, third], 'delivered on the next tick');
  contents.destroy();
  assert.equal(windows.size, 0);
  assert.equal(feed.size, 0, 'the window left the feed');
});

test('subscribe to stateUpdate: a versioned snapshot, then pushes of deltas with only what changed', async () => {
  let now = 0;
  const { feed, setState, contents, invoke } = setup(() => now);
  const reply = await invoke('subscribe', { event: 'stateUpdate', intervalMs: 1000 });
  assert.equal(reply.ok, true);
  const first = (reply as { result: StateUpdate }).result;
  assert.equal(first.kind, 'snapshot');
  const replica = new StateReplica();
  replica.apply(first);
  const kept = replica.state?.endpoints[0];
  const next = snapshot([endpoint('web.prod'), endpoint('api.prod', { bytes_in: 5 })]);
  setState(next);
  now += 1000;
  feed.tick();
  assert.equal(contents.sent.length, 1);
  const [channel, pushed] = contents.sent[0] as [string, StateUpdate];
  assert.equal(channel, STATE_CHANNEL);
  assert.equal(pushed.kind, 'delta');
  assert.deepEqual(
    Object.getOwnPropertyNames(pushed).sort(),
    ['base', 'data', 'kind', 'version'],
    'a plain object',
  );
  assert.deepEqual(
    pushed.data.endpoints?.map((e) => e.hostname),
    ['api.prod'],
    'web.prod did not change and is not sent',
  );
  assert.deepEqual(replica.apply(structuredClone(pushed)), next, 'the push rebuilds the state');
  assert.equal(replica.state?.endpoints[0], kept, 'the unchanged endpoint keeps its object');
});

test('the engine host forwards to the current engine and restarts around a step', async () => {
  const order: string[] = [];
  let generation = 0;
  const host = new EngineHost(async () => {
    const n = ++generation;
    order.push(`start ${n}`);
    const calls: Array<[string, unknown]> = [];
    return {
      engine: {
        handlers: fakeHandlers(calls),
        snapshot: () => snapshot([], { version: `gen-${n}` }),
        networkChanged: () => undefined,
      },
      stop: async () => {
        order.push(`stop ${n}`);
      },
    };
  });
  assert.throws(() => host.snapshot(), /restarting/);
  await host.start();
  assert.equal(host.snapshot().status.version, 'gen-1');
  await host.restart(async () => {
    order.push('during');
    assert.equal(host.running, false);
  });
  assert.equal(host.snapshot().status.version, 'gen-2');
  await assert.rejects(
    host.restart(async () => {
      throw new Error('uninstall failed');
    }),
    /uninstall failed/,
  );
  assert.equal(host.snapshot().status.version, 'gen-3', 'started again even when the step failed');
  await host.stop();
  assert.deepEqual(order, ['start 1', 'stop 1', 'during', 'start 2', 'stop 2', 'start 3', 'stop 3']);
});

test('the state feed serialises at most once per tick and survives a missing engine', () => {
  let calls = 0;
  let serialised = 0;
  let up = false;
  const errors: unknown[] = [];
  const feed = new StateFeed({
    snapshot: () => {
      if (!up) throw new Error('engine restarting');
      const state = snapshot([endpoint('web.prod')]);
      return Object.assign(state, { toJSON: () => (serialised++, { ...state, toJSON: undefined }) });
    },
    onError: (err) => errors.push(err),
  });
  const seen: string[] = [];
  feed.listen({ send: (event) => seen.push(event.json) });
  feed.listen({ send: (event) => seen.push(event.json) });
  const remove = feed.listen({
    every: 'tick',
    send: () => {
      calls++;
      throw new Error('one listener failing does not stop the others');
    },
  });
  feed.tick();
  assert.equal(errors.length, 1);
  up = true;
  feed.tick();
  assert.equal(seen.length, 2);
  assert.equal(seen[0], seen[1]);
  assert.equal(serialised, 1);
  assert.equal(calls, 1);
  remove();
  feed.tick();
  assert.equal(calls, 1);
  assert.equal(errors.length, 2);
  assert.equal(seen.length, 2, 'an unchanged state is not sent again');
  feed.close();
});

function fakeDaemon(calls: [PathChange, string][]): DaemonLike {
  return {
    stop: async () => undefined,
    engine: {
      handlers: {} as DaemonLike['engine']['handlers'],
      snapshot: () => snapshot([]),
      networkChanged: (reason, detail) => calls.push([reason, detail]),
    },
  };
}

test('a resume from the OS reaches the running engine, and is dropped while it restarts', async () => {
  const calls: [PathChange, string][] = [];
  let starts = 0;
  let release: () => void = () => undefined;
  const host = new EngineHost(async () => {
    starts++;
    if (starts === 2) await new Promise<void>((resolve) => (release = resolve));
    return fakeDaemon(calls);
  });
  host.networkChanged('resume', 'before start');
  await host.start();
  host.networkChanged('resume', 'the system resumed from sleep');
  assert.deepEqual(calls, [['resume', 'the system resumed from sleep']]);
  const restarting = host.restart();
  await new Promise((resolve) => setImmediate(resolve));
  host.networkChanged('resume', 'during the restart');
  release();
  await restarting;
  assert.equal(calls.length, 1);
});
