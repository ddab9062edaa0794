/**
 * Subnet conflicts as networks change, end to end as root in private mount and network namespaces
 * with a copy of /etc (the machine's own network and hosts file are never touched):
 *  - the subnet rule read from the kernel: policy tables count, default routes do not;
 *  - a VPN route or a Docker address that comes to overlap the running daemon's subnet is a
 *    SUBNET_CONFLICT in `status` naming it, with a free subnet in the fix, while ngrokd keeps
 *    serving; it clears when the network goes;
 *  - a default subnet that conflicts at the first start is replaced by the next free candidate,
 *    which is kept (with every address) on a restart after the conflict is gone; an explicit
 *    net.subnet is never replaced.
 * Detection is asserted by bounded polling of `status --json`, never by timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { EndpointView, StatusView } from '../../main/common/contract.ts';
import type { SubnetConflict } from '../../main/system/network-backend.ts';
import { runWithPrivateEtc } from '../support/private-etc.ts';
import { rootOnly } from '../support/root-only.ts';

const skip = rootOnly('it runs root daemons and changes routes in private namespaces with a copy of /etc');
const CONFLICT_SCENARIO = fileURLToPath(new URL('./netns/subnet-conflict.scenario.ts', import.meta.url));
const PICK_SCENARIO = fileURLToPath(new URL('./netns/subnet-pick.scenario.ts', import.meta.url));
const HELPER_SCENARIO = fileURLToPath(new URL('./netns/helper-subnet-conflict.scenario.ts', import.meta.url));

interface Polled {
  status: StatusView | null;
  ok: boolean;
}

function conflictsOf(polled: Polled) {
  return (polled.status?.errors ?? []).filter((e) => e.code === 'SUBNET_CONFLICT');
}

test(
  'a VPN route or Docker address that appears after start is a SUBNET_CONFLICT naming it, and clears when it goes',
  { skip },
  () => {
    const r = runWithPrivateEtc<{
      rule: Record<'free' | 'policyTable' | 'address', SubnetConflict | null>;
      list: EndpointView[];
      before: StatusView;
      vpn: Polled;
      curlDuring: string;
      vpnGone: Polled;
      docker: Polled;
      dockerGone: Polled;
      exitCode: number | null;
      stderr: string;
    }>(CONFLICT_SCENARIO, '127.0.0.1 localhost\n');

    assert.equal(r.rule.free, null, 'a default route is no conflict');
    assert.deepEqual(r.rule.policyTable, {
      subnet: '10.107.0.0/16',
      range: '10.107.0.0/16',
      what: 'a route via interface "vpn0"',
      free: '10.109.0.0/16', // 10.108.0.0/16 is taken by docker0's address
    });
    assert.deepEqual(r.rule.address, {
      subnet: '10.108.0.0/16',
      range: '10.108.3.0/24',
      what: 'address 10.108.3.1/24 of interface "docker0"',
      free: '10.109.0.0/16', // 10.107.0.0/16 is taken by table 52
    });

    assert.equal(r.list[0]?.listening, true, `not listening: ${JSON.stringify(r.list)}\n${r.stderr}`);
    assert.equal(r.before.interface.subnet, '10.107.0.0/16');
    assert.deepEqual(r.before.errors, [], 'no problem before the VPN');

    assert.ok(r.vpn.ok, `no SUBNET_CONFLICT within the bound: ${JSON.stringify(r.vpn.status)}\n${r.stderr}`);
    const [vpn] = conflictsOf(r.vpn);
    assert.match(
      vpn?.message ?? '',
      /^net\.subnet 10\.107\.0\.0\/16 overlaps 10\.107\.128\.0\/17 \(a route via interface "vpn0"\), which appeared after ngrokd set up ngrokd0: ngrokd keeps serving/,
    );
    assert.equal(
      vpn?.fix,
      'Set net.subnet to 10.108.0.0/16 (free on this machine) and restart ngrokd, or remove what overlaps.',
    );
    assert.equal(r.vpn.status?.state, 'degraded');
    assert.equal(JSON.parse(r.curlDuring).host, 'my-api.ngrok.app', `kept serving: ${r.curlDuring}`);
    assert.ok(r.vpnGone.ok, `the conflict did not clear: ${JSON.stringify(r.vpnGone.status)}`);
    assert.equal(r.vpnGone.status?.state, 'running');

    assert.ok(r.docker.ok, `no SUBNET_CONFLICT for the address: ${JSON.stringify(r.docker.status)}`);
    assert.match(
      conflictsOf(r.docker)[0]?.message ?? '',
      /overlaps 10\.107\.200\.0\/24 \(address 10\.107\.200\.1\/24 of interface "docker0"\)/,
    );
    assert.ok(r.dockerGone.ok, `the address conflict did not clear: ${JSON.stringify(r.dockerGone.status)}`);
    assert.equal(r.exitCode, 0, r.stderr);
  },
);

interface Served {
  list: EndpointView[];
  status: StatusView | null;
  curl: string;
  hosts: string;
  exitCode: number | null;
  stderr: string;
}

test(
  'a default subnet that conflicts at first start: the next free candidate, kept with its addresses on a restart',
  { skip },
  () => {
    const r = runWithPrivateEtc<{
      first: Served;
      saved: string;
      second: Served;
      explicit: { exit: number | string | null; stderr: string };
    }>(PICK_SCENARIO, '127.0.0.1 localhost\n');

    for (const [name, run] of Object.entries({ first: r.first, second: r.second })) {
      assert.equal(run.status?.interface.subnet, '10.108.0.0/16', `${name}: ${run.stderr}`);
      assert.deepEqual(run.status?.errors, [], `${name}: no problem left`);
      assert.equal(run.list.length, 2, `${name}: ${JSON.stringify(run.list)}\n${run.stderr}`);
      for (const e of run.list) {
        assert.match(e.ip, /^10\.108\./, `${name}: ${e.hostname}`);
        assert.equal(e.listening, true, `${name}: ${e.hostname}`);
      }
      assert.equal(JSON.parse(run.curl).host, 'my-api.ngrok.app', `${name}: curl by name: ${run.curl}`);
      const api = run.list.find((e) => e.hostname === 'my-api.ngrok.app');
      assert.match(run.hosts, new RegExp(`${api?.ip.replaceAll('.', '\\.')} my-api\\.ngrok\\.app`));
      assert.equal(run.exitCode, 0, `${name}: ${run.stderr}`);
    }
    // status says what was picked and why; the second start reads the same choice.
    assert.deepEqual(
      { ...r.first.status?.subnet_picked, at: undefined, saved_in: undefined },
      {
        subnet: '10.108.0.0/16',
        instead_of: '10.107.0.0/16',
        reason: 'net.subnet 10.107.0.0/16 overlaps 10.107.0.0/16 (a route via interface "vpn0")',
        at: undefined,
        saved_in: undefined,
      },
    );
    assert.match(r.first.status?.subnet_picked?.saved_in ?? '', /\/state\/subnet\.json$/);
    assert.deepEqual(r.second.status?.subnet_picked, r.first.status?.subnet_picked);
    assert.equal(JSON.parse(r.saved).subnet, '10.108.0.0/16');
    // Every hostname keeps its address across the restart, though 10.107.0.0/16 is free again.
    const ips = (run: Served) => Object.fromEntries(run.list.map((e) => [e.hostname, e.ip]));
    assert.deepEqual(ips(r.second), ips(r.first));

    assert.equal(
      r.explicit.exit,
      1,
      `an explicit conflicting net.subnet must refuse the start: ${r.explicit.stderr}`,
    );
    assert.match(
      r.explicit.stderr,
      /net\.subnet 10\.107\.0\.0\/16 overlaps 10\.107\.0\.0\/16 \(a route via interface "vpn0"\)/,
    );
    assert.match(r.explicit.stderr, /Set net\.subnet to 10\.108\.0\.0\/16 \(free on this machine\)/);
  },
);

test(
  'helper mode: the helper finds the conflict, the user sees it with the fix for helper.json; no pick at start',
  { skip },
  () => {
    const r = runWithPrivateEtc<{
      list: EndpointView[];
      vpn: Polled;
      vpnGone: Polled;
      exitCode: number | null;
      refused: { exit: number | string | null; stderr: string };
      daemonLog: string;
      helperLog: string;
    }>(HELPER_SCENARIO, '127.0.0.1 localhost\n');
    const logs = `daemon: ${r.daemonLog}\nhelper: ${r.helperLog}`;
    assert.equal(r.list[0]?.listening, true, `not listening: ${JSON.stringify(r.list)}\n${logs}`);
    assert.ok(r.vpn.ok, `no SUBNET_CONFLICT within the bound: ${JSON.stringify(r.vpn.status)}\n${logs}`);
    assert.equal(r.vpn.status?.mode, 'helper');
    const [vpn] = conflictsOf(r.vpn);
    assert.match(
      vpn?.message ?? '',
      /^net\.subnet 10\.107\.0\.0\/16 overlaps 10\.107\.128\.0\/17 \(a route via interface "vpn0"\), which appeared after ngrokd set up ngrokd0/,
    );
    assert.match(
      vpn?.fix ?? '',
      /^Have an administrator set "subnet" in \/etc\/ngrokd\/helper\.json to 10\.108\.0\.0\/16 \(free on this machine\) and restart the helper/,
    );
    assert.ok(r.vpnGone.ok, `the conflict did not clear: ${JSON.stringify(r.vpnGone.status)}\n${logs}`);
    assert.equal(r.exitCode, 0, logs);
    assert.equal(r.refused.exit, 1, `the start must be refused: ${r.refused.stderr}`);
    assert.match(
      r.refused.stderr,
      /net\.subnet 10\.107\.0\.0\/16 overlaps 10\.107\.0\.0\/16 \(a route via interface "vpn0"\)/,
    );
    assert.match(r.refused.stderr, /set "subnet" in \/etc\/ngrokd\/helper\.json to 10\.108\.0\.0\/16/);
  },
);
