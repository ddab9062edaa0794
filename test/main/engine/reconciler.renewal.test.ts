/**
 * Certificate renewal through the reconciler against the simulator: with 2-minute certificates
 * renewal cannot storm and the certificate never lapses; a failing renewal is a warning naming the
 * time left, then an error before expiry, and clears once a renewal succeeds; a renewed certificate
 * is what the next dial uses, without a restart. Virtual time (test/support/virtual-clock.ts),
 * except for the dial, which real TLS checks against the real clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientCredentials } from '../../../main/engine/binding/trust.ts';
import { startReconcilerRig, type ReconcilerRig } from '../../support/reconciler-rig.ts';
import { VirtualClock } from '../../support/virtual-clock.ts';

const SUBNET = '127.172.0.0/16';
const ENDPOINTS = [{ url: 'tcp://db.prod:5432' }];

function certsIssued(rig: ReconcilerRig): number {
  return rig.sim.api.operators.get(rig.session.operator?.operatorId ?? '')?.certsIssued ?? 0;
}

function patches(rig: ReconcilerRig): number {
  return rig.sim.api.requestLog.filter((r) => r.method === 'PATCH').length;
}

test('2-minute certificates over an hour: one renewal per third of the lifetime, never lapsing', async () => {
  const clock = new VirtualClock();
  const rig = await startReconcilerRig({
    subnet: SUBNET,
    sim: { endpoints: ENDPOINTS, now: clock.now, certLifetimeSeconds: 120 },
    pollInterval: 10,
    api: { now: clock.now, sleep: clock.sleep },
  });
  try {
    await rig.pass();
    assert.equal(certsIssued(rig), 1);
    const hour = 3_600_000;
    const end = clock.now() + hour;
    let passes = 0;
    while (clock.now() < end) {
      clock.advance(10_000);
      await rig.pass();
      passes++;
      const operator = rig.session.operator;
      assert.ok(
        operator !== null && operator.notAfter.getTime() > clock.now(),
        'the certificate in use is valid',
      );
    }
    // The simulator back-dates not_before a minute: 3 minutes of lifetime, renewed with a minute
    // left, so every minute. The old flat 30-day rule renewed on every one of the 360 passes.
    const renewals = certsIssued(rig) - 1;
    assert.ok(renewals <= hour / 60_000 + 1, `${renewals} renewals in an hour over ${passes} passes`);
    assert.ok(renewals >= hour / 120_000, `${renewals} renewals: too few to keep it valid`);
    assert.equal(patches(rig), renewals, 'one PATCH (one new key) per renewal');
    assert.deepEqual(rig.status().warnings, []);
    assert.deepEqual(rig.status().errors, []);
  } finally {
    await rig.close();
  }
});

test('a failing renewal is a warning with the time left, an error before expiry, and clears when one succeeds', async () => {
  const clock = new VirtualClock();
  const rig = await startReconcilerRig({
    subnet: SUBNET,
    sim: { endpoints: ENDPOINTS, now: clock.now, certLifetimeSeconds: 3600 },
    pollInterval: 30,
    api: { now: clock.now, sleep: clock.sleep },
  });
  try {
    await rig.pass();
    const first = rig.session.operator;
    assert.ok(first !== null);
    const notAfter = first.notAfter.getTime();
    // 61 minutes of lifetime (not_before back-dated a minute): due with 20 minutes 20 s left.
    rig.sim.api.injectFailures(Number.POSITIVE_INFINITY, {
      status: 500,
      errorCode: 'ERR_NGROK_20006',
      renewalsOnly: true,
    });
    clock.set(notAfter - 1220_000);
    await rig.pass();
    assert.ok(patches(rig) > 0, 'renewal was tried');
    let status = rig.status();
    const warning = status.warnings.find((w) => w.code === 'CERT_RENEWAL');
    assert.ok(warning, JSON.stringify(status));
    assert.match(warning.message, /renewing the client certificate failed \(.*ERR_NGROK_20006/);
    assert.match(warning.message, new RegExp(`valid for 20 min more, until ${first.notAfter.toISOString()}`));
    assert.equal(warning.ngrokCode, 'ERR_NGROK_20006');
    assert.deepEqual(status.errors, [], 'a warning, not an error, with 20 minutes left');
    assert.equal(status.state, 'running');
    assert.equal(rig.session.operator?.certPem, first.certPem, 'the old certificate stays in use');

    // Polls go on; renewal is retried with backoff, not on every pass.
    let passes = 0;
    const rounds = () => patches(rig);
    while (clock.now() < notAfter - 330_000) {
      clock.advance(30_000);
      await rig.pass();
      passes++;
    }
    assert.ok(rounds() > 1, 'tried again');
    status = rig.status();
    const error = status.errors.find((e) => e.code === 'CERT_RENEWAL');
    assert.ok(
      error,
      `an error with ${(notAfter - clock.now()) / 1000} s left: ${JSON.stringify(status.warnings)}`,
    );
    assert.match(error.message, /valid for 5 min more/);
    assert.match(error.fix, /then fail until renewal succeeds/);
    assert.equal(status.state, 'degraded');
    assert.deepEqual(status.warnings, [], 'the warning became the error');
    assert.ok(passes > 0);

    clock.set(notAfter + 1000);
    await rig.pass();
    assert.match(rig.status().errors.find((e) => e.code === 'CERT_RENEWAL')?.message ?? '', /expired at/);

    rig.sim.api.clearFailures();
    clock.advance(10 * 60_000);
    await rig.pass();
    status = rig.status();
    assert.notEqual(rig.session.operator?.certPem, first.certPem, 'renewed');
    assert.deepEqual(status.errors, []);
    assert.deepEqual(status.warnings, []);
    assert.equal(status.state, 'running');
  } finally {
    await rig.close();
  }
});

test('a renewed certificate is what the next dial uses, without a restart', async () => {
  let offset = 0;
  const rig = await startReconcilerRig({
    subnet: SUBNET,
    sim: { endpoints: ENDPOINTS, certLifetimeSeconds: 3600 },
    now: () => Date.now() + offset,
  });
  try {
    await rig.pass();
    const dialer = rig.session.dialer;
    assert.ok(dialer !== null);
    const given: ClientCredentials[] = [];
    const setCredentials = dialer.setCredentials.bind(dialer);
    dialer.setCredentials = (credentials) => {
      given.push(credentials);
      setCredentials(credentials);
    };
    const before = await dialer.dial('db.prod', 5432);
    before.socket.destroy();
    const old = rig.session.operator?.certPem;

    offset = 45 * 60_000; // 15 minutes left of 61: inside the window (a third)
    await rig.pass();
    const renewed = rig.session.operator?.certPem;
    assert.notEqual(renewed, old);
    assert.equal(certsIssued(rig), 2);
    assert.equal(rig.session.dialer, dialer, 'the same dialer: no restart');
    assert.deepEqual(
      given.map((c) => c.certPem),
      [renewed],
    );
    const after = await dialer.dial('db.prod', 5432);
    assert.equal(after.response.errorCode, '');
    after.socket.destroy();

    await rig.pass();
    assert.equal(given.length, 1, 'not renewed again, the dialer left alone');
  } finally {
    await rig.close();
  }
});
