/**
 * The engine against the simulator over real sockets and real TLS: what a user sees through
 * `curl`, `status` and the hosts file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { HOSTS_BEFORE, startEngineHarness, type EngineHarness } from '../../support/engine-fixture.ts';
import { canConnect, httpRequest } from '../../support/http.ts';
import type { EndpointView } from '../../../main/common/contract.ts';

const SUBNET = '127.121.0.0/16';

function endpoint(h: EngineHarness, hostname: string): EndpointView {
  const found = h.engine.endpoints().find((e) => e.hostname === hostname);
  assert.ok(found, `endpoint ${hostname} not listed`);
  return found;
}

describe('engine against the simulator', () => {
  let h: EngineHarness;

  before(async () => {
    h = await startEngineHarness({
      subnet: SUBNET,
      sim: {
        endpoints: [
          { url: 'http://my-api.ngrok.app' },
          { url: 'http://checkout.shop', pooling: true },
          { url: 'http://checkout.shop', pooling: true },
          { url: 'tcp://postgres.db:5432' },
          { url: 'http://grafana.monitoring:3000' },
        ],
      },
    });
  });
  after(() => h.close());

  test('registers, lists endpoints with addresses from the subnet and writes the hosts section', () => {
    const status = h.engine.status();
    assert.equal(status.registered, true);
    assert.match(status.operator_id ?? '', /^k8sop_/);
    assert.equal(status.endpoint_count, 4);
    assert.deepEqual(status.errors, []);
    const views = h.engine.endpoints();
    for (const e of views) {
      assert.match(e.ip, /^127\.121\./);
      assert.equal(e.listening, true);
    }
    const hosts = readFileSync(h.hostsPath, 'utf8');
    assert.ok(hosts.startsWith(HOSTS_BEFORE), 'lines outside the section are kept byte for byte');
    assert.match(
      hosts,
      new RegExp(`${endpoint(h, 'my-api.ngrok.app').ip.replaceAll('.', '\\.')} my-api\\.ngrok\\.app`),
    );
  });

  test('pooled endpoints share one URL, one address and one listener', () => {
    const pooled = h.engine.endpoints().filter((e) => e.hostname === 'checkout.shop');
    assert.equal(pooled.length, 1);
    assert.equal(pooled[0]?.ids.length, 2);
  });

  test('HTTP is forwarded, and Host is rewritten when the client came by IP', async () => {
    const e = endpoint(h, 'my-api.ngrok.app');
    const byName = await httpRequest(e.ip, e.listen_port, { headers: { Host: 'my-api.ngrok.app' } });
    assert.equal(byName.status, 200);
    assert.equal(JSON.parse(byName.body).host, 'my-api.ngrok.app');
    const byIp = await httpRequest(e.ip, e.listen_port);
    assert.equal(JSON.parse(byIp.body).host, 'my-api.ngrok.app');
    const g = endpoint(h, 'grafana.monitoring');
    assert.equal(JSON.parse((await httpRequest(g.ip, g.listen_port)).body).host, 'grafana.monitoring:3000');
    const after = endpoint(h, 'my-api.ngrok.app');
    assert.ok(after.bytes_in > 0 && after.bytes_out > 0 && after.connections_total >= 2);
  });

  test('a 16 MiB TCP echo comes back intact', async () => {
    const e = endpoint(h, 'postgres.db');
    const payload = Buffer.alloc(16 << 20);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect(e.listen_port, e.ip, () => s.end(payload));
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
    });
    assert.equal(echoed.length, payload.length);
    assert.equal(
      createHash('sha256').update(echoed).digest('hex'),
      createHash('sha256').update(payload).digest('hex'),
    );
  });

  test('a refused upgrade answers 502 naming the ngrok error', async () => {
    h.sim.ingress.failHost('my-api.ngrok.app', {
      errorCode: 'ERR_NGROK_28001',
      errorMessage: 'pod identity required',
    });
    try {
      const e = endpoint(h, 'my-api.ngrok.app');
      const res = await httpRequest(e.ip, e.listen_port, { headers: { Host: 'my-api.ngrok.app' } });
      assert.equal(res.status, 502);
      assert.match(res.body, /ERR_NGROK_28001/);
      assert.match(res.body, /pod identity required/);
      assert.equal(endpoint(h, 'my-api.ngrok.app').last_error?.ngrokCode, 'ERR_NGROK_28001');
    } finally {
      h.sim.ingress.clearHostFailures();
    }
  });

  test('an untrusted ingress certificate is refused and shown in status', async () => {
    h.sim.ingress.useUntrustedCert(true);
    try {
      const e = endpoint(h, 'grafana.monitoring');
      // Up to two warm connections verified before the switch may still carry a request; the first
      // connection made after it must fail verification.
      let res = await httpRequest(e.ip, e.listen_port);
      for (let i = 0; i < 3 && res.status === 200; i++) res = await httpRequest(e.ip, e.listen_port);
      const before = h.sim.ingress.requests.length;
      assert.equal(res.status, 502);
      assert.match(res.body, /not trusted|untrusted/i);
      res = await httpRequest(e.ip, e.listen_port);
      assert.equal(res.status, 502);
      assert.equal(
        h.sim.ingress.requests.length,
        before,
        'no ConnRequest was sent over an unverified connection',
      );
      assert.ok(h.engine.status().errors.some((err) => err.code === 'INGRESS_UNTRUSTED'));
    } finally {
      h.sim.ingress.useUntrustedCert(false);
    }
  });

  test('API 500s and 429s are survived: listeners keep working, status says why', async () => {
    h.sim.api.injectFailures(20, { status: 500, paths: ['/kubernetes_operators'] });
    await h.engine.reconcile();
    const during = h.engine.status();
    assert.equal(during.last_error?.code, 'API_UNAVAILABLE');
    const e = endpoint(h, 'my-api.ngrok.app');
    assert.equal((await httpRequest(e.ip, e.listen_port, { headers: { Host: e.hostname } })).status, 200);
    h.sim.api.clearFailures();
    h.sim.api.injectFailures(1, { status: 429, retryAfterSeconds: 0 });
    await h.engine.reconcile();
    assert.deepEqual(h.engine.status().errors, []);
  });

  test('a removed endpoint closes its listener and leaves the hosts file', async () => {
    const added = h.sim.api.addEndpoint({ url: 'http://temp.svc' });
    await h.engine.reconcile();
    const e = endpoint(h, 'temp.svc');
    assert.match(readFileSync(h.hostsPath, 'utf8'), /temp\.svc/);
    h.sim.api.removeEndpoint(added.id);
    await h.engine.reconcile();
    assert.equal(
      h.engine.endpoints().some((x) => x.hostname === 'temp.svc'),
      false,
    );
    assert.equal(await canConnect(e.ip, e.listen_port), false);
    assert.doesNotMatch(readFileSync(h.hostsPath, 'utf8'), /temp\.svc/);
  });

  test('a hostname that comes back gets its old address; a restart keeps every address', async () => {
    const added = h.sim.api.addEndpoint({ url: 'http://comeback.svc' });
    await h.engine.reconcile();
    const first = endpoint(h, 'comeback.svc').ip;
    h.sim.api.removeEndpoint(added.id);
    h.sim.api.addEndpoint({ url: 'http://another.svc' });
    await h.engine.reconcile();
    h.sim.api.addEndpoint({ url: 'http://comeback.svc' });
    await h.engine.reconcile();
    assert.equal(endpoint(h, 'comeback.svc').ip, first);
    const before = new Map(h.engine.endpoints().map((x) => [x.url, x.ip]));
    const operatorBefore = h.engine.status().operator_id;
    const posts = h.sim.api.requestLog.filter((r) => r.method === 'POST').length;
    await h.restart();
    assert.deepEqual(new Map(h.engine.endpoints().map((x) => [x.url, x.ip])), before);
    assert.equal(h.engine.status().operator_id, operatorBefore, 'the stored registration is reused');
    assert.equal(h.sim.api.requestLog.filter((r) => r.method === 'POST').length, posts, 'no new operator');
  });

  test('a deleted registration is recreated', async () => {
    const old = h.engine.status().operator_id as string;
    h.sim.api.operators.delete(old);
    await h.engine.reconcile(); // 404 on discovery
    await h.engine.reconcile(); // registers again
    const now = h.engine.status();
    assert.equal(now.registered, true);
    assert.notEqual(now.operator_id, old);
    const e = endpoint(h, 'my-api.ngrok.app');
    assert.equal((await httpRequest(e.ip, e.listen_port, { headers: { Host: e.hostname } })).status, 200);
  });

  test('turning off closes every listener and removes the hosts section; on restores them', async () => {
    const e = endpoint(h, 'my-api.ngrok.app');
    await h.engine.setEnabled(false);
    assert.equal(h.engine.endpoints().length, 0);
    assert.equal(await canConnect(e.ip, e.listen_port), false);
    assert.equal(readFileSync(h.hostsPath, 'utf8'), HOSTS_BEFORE);
    await h.engine.setEnabled(true);
    assert.equal(endpoint(h, 'my-api.ngrok.app').ip, e.ip);
    assert.equal((await httpRequest(e.ip, e.listen_port, { headers: { Host: e.hostname } })).status, 200);
  });

  test('stop removes the hosts section and closes the listeners', async () => {
    const e = endpoint(h, 'my-api.ngrok.app');
    await h.engine.stop();
    assert.equal(readFileSync(h.hostsPath, 'utf8'), HOSTS_BEFORE);
    assert.equal(await canConnect(e.ip, e.listen_port), false);
    await h.engine.start();
  });

  test('logout deletes the operator', async () => {
    const id = h.engine.status().operator_id as string;
    assert.deepEqual(await h.engine.handlers.logout({}), { deleted: true });
    assert.equal(h.sim.api.operators.has(id), false);
  });
});

describe('engine pagination', () => {
  test('every page of bound endpoints is followed', async () => {
    const endpoints = Array.from({ length: 250 }, (_, i) => ({
      url: `tcp://svc${i}.paged:${7000 + (i % 5)}`,
    }));
    const h = await startEngineHarness({ subnet: '127.122.0.0/16', sim: { endpoints } });
    try {
      assert.equal(h.engine.endpoints().length, 250);
      const pages = h.sim.api.requestLog.filter((r) => r.path.endsWith('/bound_endpoints'));
      assert.ok(pages.length >= 3, `expected 3 pages, saw ${pages.length}`);
    } finally {
      await h.close();
    }
  });
});

describe('engine with no ingress CA configured', () => {
  test("the ingress is never trusted by accident: no pin for a CA that is not ngrok's, 502 and INGRESS_UNTRUSTED", async () => {
    const h = await startEngineHarness({
      subnet: '127.124.0.0/16',
      sim: { endpoints: [{ url: 'http://my-api.ngrok.app' }] },
      config: { ingressCA: undefined },
    });
    try {
      const e = endpoint(h, 'my-api.ngrok.app');
      const res = await httpRequest(e.ip, e.listen_port, { headers: { Host: e.hostname } });
      assert.equal(res.status, 502);
      assert.equal(h.sim.ingress.requests.length, 0, 'no ConnRequest over an unverified connection');
      assert.ok(h.engine.status().errors.some((err) => err.code === 'INGRESS_UNTRUSTED'));
    } finally {
      await h.close();
    }
  });
});
