/**
 * `sudo ngrokd daemon` where /etc/hosts is a single-file bind mount (a container): the section is
 * written in place, `curl` by name works, and SIGTERM leaves the file as it was. Private mount and
 * network namespaces; only /etc/hosts is replaced, by a bind-mounted copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runWithBindMountedHosts, type DaemonObservations } from '../support/private-etc.ts';
import { rootOnly } from '../support/root-only.ts';

const skip = rootOnly('it runs the daemon as root in private namespaces with a bind-mounted /etc/hosts');
const SCENARIO = fileURLToPath(new URL('./netns/root-daemon.scenario.ts', import.meta.url));

test(
  'a bind-mounted /etc/hosts gets the section in place; curl by name works; SIGTERM restores it',
  { skip },
  () => {
    const r = runWithBindMountedHosts<DaemonObservations & { stderr: string }>(
      SCENARIO,
      '127.0.0.1 localhost\n172.17.0.2 c0ffee\n',
    );
    const api = r.list.find((e) => e.hostname === 'my-api.ngrok.app');
    assert.ok(api, `my-api.ngrok.app not listed: ${JSON.stringify(r.list)}\n${r.stderr}`);
    assert.deepEqual(r.status.errors, [], JSON.stringify(r.status.errors));
    assert.ok(r.hostsDuring.startsWith(r.hostsBefore), 'user lines kept byte for byte');
    assert.match(r.hostsDuring, new RegExp(`${api.ip.replaceAll('.', '\\.')} my-api\\.ngrok\\.app`));
    assert.equal(JSON.parse(r.curl).host, 'my-api.ngrok.app', `curl answer: ${r.curl}\n${r.stderr}`);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.hostsAfter, r.hostsBefore, 'section removed on SIGTERM');
  },
);
