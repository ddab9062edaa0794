/**
 * Per-endpoint switches end to end: a real engine in user mode against the simulator. A disabled
 * endpoint has no listener and no hosts line but keeps its IP; the choice survives a restart; pins
 * put endpoints first.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { EndpointView } from '../../main/common/contract.ts';
import { NgrokdError } from '../../main/common/errors.ts';
import { startEngineHarness, type EngineHarness } from '../support/engine-fixture.ts';
import { canConnect, httpRequest } from '../support/http.ts';

const SUBNET = '127.137.0.0/16';

describe('per-endpoint on/off and pins', () => {
  let harness: EngineHarness;
  const view = (hostname: string): EndpointView => {
    const found = harness.engine.endpoints().find((e) => e.hostname === hostname);
    assert.ok(found !== undefined, `${hostname} is an endpoint`);
    return found;
  };
  const hostsLines = (): string[] => readFileSync(harness.hostsPath, 'utf8').split(/\r?\n/);

  before(async () => {
    harness = await startEngineHarness({
      subnet: SUBNET,
      sim: {
        endpoints: [
          { url: 'http://a.switch.test' },
          { url: 'http://b.switch.test' },
          { url: 'tcp://c.switch.test:5432' },
        ],
      },
    });
  });
  after(() => harness.close());

  test('disable: no listener, no hosts line, the IP kept; the state is not degraded by it', async () => {
    const before = view('b.switch.test');
    assert.equal(before.enabled, true);
    assert.equal((await httpRequest(before.ip, before.listen_port)).status, 200);

    const list = await harness.engine.handlers.setEndpoint({ host: 'b.switch.test', enabled: false });
    const after = list.find((e) => e.hostname === 'b.switch.test') as EndpointView;
    assert.deepEqual([after.enabled, after.listening, after.ip], [false, false, before.ip]);
    assert.equal(await canConnect(before.ip, before.listen_port), false, 'nothing listens');
    assert.ok(!hostsLines().some((l) => l.includes('b.switch.test')), 'no hosts line');
    assert.ok(
      hostsLines().some((l) => l.includes('a.switch.test')),
      'the others stay',
    );
    assert.equal(harness.engine.status().state, 'running');
  });

  test('the choice survives a restart, and enable brings it back on the same address', async () => {
    const ip = view('b.switch.test').ip;
    await harness.restart();
    assert.equal(view('b.switch.test').enabled, false);
    assert.equal(view('b.switch.test').ip, ip);
    assert.ok(!hostsLines().some((l) => l.includes('b.switch.test')));

    await harness.engine.handlers.setEndpoint({ host: 'http://b.switch.test', enabled: true });
    const back = view('b.switch.test');
    assert.deepEqual([back.enabled, back.listening, back.ip], [true, true, ip]);
    assert.equal((await httpRequest(back.ip, back.listen_port)).status, 200);
    assert.ok(
      hostsLines().some(
        (l) => l.includes(`${ip} b.switch.test`) || (l.includes(ip) && l.includes('b.switch.test')),
      ),
    );
  });

  test('pinned endpoints come first, in the list and across restarts', async () => {
    assert.deepEqual(
      harness.engine.endpoints().map((e) => e.hostname),
      ['a.switch.test', 'b.switch.test', 'c.switch.test'],
    );
    await harness.engine.handlers.setEndpoint({ host: 'c.switch.test', pinned: true });
    assert.deepEqual(
      harness.engine.endpoints().map((e) => [e.hostname, e.pinned]),
      [
        ['c.switch.test', true],
        ['a.switch.test', false],
        ['b.switch.test', false],
      ],
    );
    await harness.restart();
    assert.equal(harness.engine.endpoints()[0]?.hostname, 'c.switch.test');
    await harness.engine.handlers.setEndpoint({ host: 'c.switch.test', pinned: false });
    assert.equal(harness.engine.endpoints()[0]?.hostname, 'a.switch.test');
  });

  test('an unknown name is refused, naming the known ones', async () => {
    await assert.rejects(
      Promise.resolve().then(() =>
        harness.engine.handlers.setEndpoint({ host: 'nope.test', enabled: false }),
      ),
      (err) =>
        err instanceof NgrokdError &&
        /no endpoint named "nope\.test" \(known: a\.switch\.test, b\.switch\.test, c\.switch\.test\)/.test(
          err.message,
        ),
    );
  });
});
