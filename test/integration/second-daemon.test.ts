/**
 * One owner per interface: a second root daemon with the same net.interface_name is refused, naming
 * the running one, and the first keeps its interface, addresses and hosts section. Private mount and
 * network namespaces with a copy of /etc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { EndpointView } from '../../main/common/contract.ts';
import { runWithPrivateEtc } from '../support/private-etc.ts';
import { rootOnly } from '../support/root-only.ts';

const skip = rootOnly('it runs two root daemons in private namespaces with a copy of /etc');
const SCENARIO = fileURLToPath(new URL('./netns/second-daemon.scenario.ts', import.meta.url));

test(
  'a second daemon for the same interface is refused naming the first; the first keeps working',
  { skip },
  () => {
    const r = runWithPrivateEtc<{
      firstPid: number;
      refused: { code: number | null; stderr: string };
      curl: string;
      listAfter: EndpointView[];
      hostsBefore: string;
      hostsAfter: string;
    }>(SCENARIO, '127.0.0.1 localhost\n');
    assert.notEqual(r.refused.code, 0, 'the second daemon started');
    assert.match(
      r.refused.stderr,
      new RegExp(
        `interface "ngrokd0" is in use by another ngrokd \\(pid ${r.firstPid}, socket \\S+ngrokd\\.sock\\)`,
      ),
    );
    assert.equal(JSON.parse(r.curl).host, 'my-api.ngrok.app', r.curl);
    assert.equal(r.listAfter[0]?.listening, true);
    assert.equal(r.hostsAfter, r.hostsBefore, "the first one's hosts section untouched");
  },
);
