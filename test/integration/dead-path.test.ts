/**
 * A path that dies under open connections, end to end in a private network namespace (root): the
 * kernel silently drops everything to the ingress, as a sleeping laptop, a changed Wi-Fi or a lost
 * VPN does. TCP keepalive on the ingress connection finds out, the local client's connection is
 * torn down (not left hanging, never a clean EOF), and when the path comes back the engine notices
 * the route change, drops what belonged to the old path, polls the API at once and the first new
 * connection works in one dial.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runNetnsScenario } from '../support/netns-scenario.ts';
import { rootOnly } from '../support/root-only.ts';

const skip = rootOnly('it changes routes in a private network namespace');
const SCENARIO = fileURLToPath(new URL('./netns/dead-path.scenario.ts', import.meta.url));

interface Results {
  error?: string;
  openConnection: string;
  polledAfterChange: boolean;
  freshConnection: string;
  connRequestsForFresh: number;
  newErrors: number;
}

test(
  'a dead path is detected by keepalive; after it returns the first connection works in one dial',
  { skip },
  async () => {
    const { results } = await runNetnsScenario<Results>(SCENARIO, 'ngrokd-dead-path-');
    assert.equal(
      results.openConnection,
      'ECONNRESET',
      'the open connection is reset, not left hanging or ended cleanly',
    );
    assert.equal(results.polledAfterChange, true);
    assert.equal(results.freshConnection, 'echoed');
    assert.equal(results.connRequestsForFresh, 1);
    assert.equal(results.newErrors, 0);
  },
);
