/**
 * The desktop app's everyday setup without Electron: the privileged helper runs as root, the daemon
 * as a normal user. The user's daemon gets the interface, the addresses, /etc/hosts and port 80
 * through the helper (the listening socket is passed over SCM_RIGHTS), and `curl` by name works.
 * Private mount and network namespaces with a copy of /etc; needs root (skipped without, unless CI=true).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runWithPrivateEtc, type DaemonObservations } from '../support/private-etc.ts';
import { rootOnly } from '../support/root-only.ts';

const skip = rootOnly('it runs the helper as root and the daemon as another uid in private namespaces');

const SCENARIO = fileURLToPath(new URL('./netns/helper-daemon.scenario.ts', import.meta.url));

test("a normal user's daemon gets interface, /etc/hosts and port 80 through the helper", { skip }, () => {
  const r = runWithPrivateEtc<
    DaemonObservations & {
      listenerOwner: string;
      daemonPid: number;
      daemonLog: string;
      helperLog: string;
    }
  >(SCENARIO, '127.0.0.1 localhost\n# mine\n');
  const logs = `daemon: ${r.daemonLog}\nhelper: ${r.helperLog}`;
  assert.equal(r.status.mode, 'helper', logs);
  assert.equal(r.status.interface.name, 'ngrokd0');
  const api = r.list.find((e) => e.hostname === 'my-api.ngrok.app');
  assert.ok(api, `not listed: ${JSON.stringify(r.list)}\n${logs}`);
  assert.match(api.ip, /^10\.107\./);
  assert.equal(api.listen_port, 80);
  assert.equal(JSON.parse(r.curl).host, 'my-api.ngrok.app', `${r.curl}\n${logs}`);
  assert.match(r.hostsDuring, /my-api\.ngrok\.app/);
  assert.ok(r.hostsDuring.startsWith(r.hostsBefore));
  assert.ok(
    r.listenerOwner.includes(`pid=${r.daemonPid},`),
    `the unprivileged daemon, not the helper, holds the port-80 listener: ${r.listenerOwner}`,
  );
  assert.equal(r.exitCode, 0, logs);
  assert.equal(r.hostsAfter, r.hostsBefore, 'the hosts section is gone after the daemon stopped');
});
