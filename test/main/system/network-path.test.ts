/**
 * The route probe (Linux): its fingerprint of the way to a destination is stable while nothing
 * changes and differs for every change a laptop lives through. Root: the network is changed in a
 * private namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runNetnsScenario } from '../../support/netns-scenario.ts';
import { rootOnly } from '../../support/root-only.ts';

const skip =
  process.platform !== 'linux'
    ? 'the route probe is Linux only'
    : rootOnly('it changes routes in a private network namespace');
const SCENARIO = fileURLToPath(new URL('../../integration/netns/network-path.scenario.ts', import.meta.url));

test(
  'the route fingerprint is stable, and changes with the gateway, the interface and the network',
  { skip },
  async () => {
    const { results } = await runNetnsScenario<{ error?: string; seen: Record<string, string> }>(
      SCENARIO,
      'ngrokd-network-path-',
    );
    const { none, wifi, wifiAgain, otherGateway, vpn } = results.seen;
    assert.match(none ?? '', /^no route/, 'without a network there is no route, and the probe says so');
    assert.match(wifi ?? '', /via 10\.9\.0\.1 src 10\.9\.0\.2/);
    assert.equal(wifiAgain, wifi, 'nothing changed: the same fingerprint');
    assert.match(otherGateway ?? '', /via 10\.9\.0\.254/);
    assert.match(vpn ?? '', /via 10\.20\.0\.1 src 10\.20\.0\.2/);
    assert.equal(new Set([none, wifi, otherGateway, vpn]).size, 4, 'each change is a new fingerprint');
  },
);
