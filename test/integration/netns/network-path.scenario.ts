/**
 * Runs inside `unshare -n` (network-path.test.ts): the route probe's fingerprint of the way to an
 * ingress address, as the network under it changes: no network, a default route, another gateway,
 * another interface. Prints one JSON line of fingerprints for the parent to assert on.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createNetworkPathProbe } from '../../../main/system/network-path.ts';

const run = promisify(execFile);
const DESTINATION = '192.0.2.1';

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

try {
  const probe = createNetworkPathProbe();
  const seen: Record<string, string> = {};
  await ip('link', 'set', 'lo', 'up');
  seen.none = probe.fingerprint(DESTINATION);
  // A "Wi-Fi": a link that behaves like a real one, with an address and a default route.
  for (const link of ['wlan0', 'eth1']) {
    await ip('link', 'add', link, 'type', 'bridge');
    await ip('link', 'set', link, 'up');
  }
  await ip('addr', 'add', '10.9.0.2/24', 'dev', 'wlan0');
  await ip('route', 'add', 'default', 'via', '10.9.0.1', 'dev', 'wlan0');
  seen.wifi = probe.fingerprint(DESTINATION);
  seen.wifiAgain = probe.fingerprint(DESTINATION);
  // The same network, another gateway (a DHCP renewal into another router).
  await ip('route', 'replace', 'default', 'via', '10.9.0.254', 'dev', 'wlan0');
  seen.otherGateway = probe.fingerprint(DESTINATION);
  // A VPN-like route for the destination over another interface, from another address.
  await ip('addr', 'add', '10.20.0.2/24', 'dev', 'eth1');
  await ip('route', 'add', '192.0.2.0/24', 'via', '10.20.0.1', 'dev', 'eth1', 'src', '10.20.0.2');
  seen.vpn = probe.fingerprint(DESTINATION);
  probe.close();
  console.log(JSON.stringify({ seen }));
} catch (err) {
  console.log(JSON.stringify({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
}
