/**
 * The seed's full behaviour on Linux, end to end: the daemon started as root creates the interface,
 * adds the endpoint addresses, writes /etc/hosts and listens on the endpoints' own ports, so
 * `curl http://my-api.ngrok.app/` resolves through the hosts file to the interface IP on port 80.
 * Runs in private mount and network namespaces with a copy of /etc, so the machine's network and
 * /etc/hosts are never touched. Needs root: fails (never skips) without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runWithPrivateEtc, type DaemonObservations } from '../support/private-etc.ts';
import { rootOnly } from '../support/root-only.ts';

const skip = rootOnly('it runs the daemon as root in private namespaces with a copy of /etc');

const SCENARIO = fileURLToPath(new URL('./netns/root-daemon.scenario.ts', import.meta.url));

test(
  'sudo ngrokd daemon: interface, addresses, /etc/hosts and port 80; SIGTERM undoes all of it',
  { skip },
  () => {
    const r = runWithPrivateEtc<
      DaemonObservations & {
        addresses: string;
        linkAfter: string;
        stderr: string;
      }
    >(SCENARIO, '127.0.0.1 localhost\n# a comment the user wrote\n10.1.2.3 printer.lan');
    const api = r.list.find((e) => e.hostname === 'my-api.ngrok.app');
    assert.ok(api, `my-api.ngrok.app not listed: ${JSON.stringify(r.list)}\n${r.stderr}`);
    assert.match(api.ip, /^10\.107\./);
    assert.equal(api.listen_port, 80, 'listens on the endpoint port itself');
    assert.equal(r.status.mode, 'root');
    assert.equal(r.status.interface.name, 'ngrokd0');
    assert.ok(['dummy', 'bridge'].includes(r.status.interface.kind), r.status.interface.kind);
    assert.equal(r.status.hosts_path, '/etc/hosts');
    assert.equal(JSON.parse(r.curl).host, 'my-api.ngrok.app', `curl answer: ${r.curl}`);
    assert.ok(r.hostsDuring.startsWith(r.hostsBefore), 'user lines kept byte for byte');
    assert.match(r.hostsDuring, new RegExp(`${api.ip.replaceAll('.', '\\.')} my-api\\.ngrok\\.app`));
    assert.match(r.addresses, /10\.107\.0\.1\//, 'gateway on the interface');
    assert.ok(r.addresses.includes(`inet ${api.ip}/`), r.addresses);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.hostsAfter, r.hostsBefore, 'hosts section removed on SIGTERM');
    assert.doesNotMatch(r.linkAfter, /ngrokd0/, 'interface destroyed on SIGTERM');
  },
);
