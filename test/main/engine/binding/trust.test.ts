import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BindingDialer } from '../../../../main/engine/binding/dialer.ts';
import {
  bootstrapIngressTrust,
  NGROK_INGRESS_CA_SHA256,
} from '../../../../main/engine/binding/trust-bootstrap.ts';
import { loadIngressTrust } from '../../../../main/engine/binding/trust.ts';
import {
  INGRESS_NAME,
  createPki,
  intermediateAuthority,
  leafCertificate,
  startIngress,
  type FakeIngress,
  type Pki,
} from '../../../support/tls-fixtures.ts';

let pki: Pki;
let dir: string;
let fake: FakeIngress;

before(async () => {
  pki = await createPki();
  dir = mkdtempSync(join(tmpdir(), 'ngrokd-trust-'));
  fake = await startIngress({
    identity: pki.server,
    clientCA: pki.clientCA.certPem,
    answer: () => ({ errorCode: 'ERR_NGROK_TEST', errorMessage: 'reached' }),
  });
});

after(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

test('system roots plus ingressCA plus every PEM of the trust dir, deduplicated', () => {
  const trustDir = join(dir, 'ngrok');
  mkdirSync(trustDir);
  writeFileSync(join(trustDir, 'ngrok-ca.pem'), pki.ingressCA.certPem);
  writeFileSync(join(trustDir, 'bundle.crt'), `${pki.root.certPem}\n${pki.clientCA.certPem}\n`);
  symlinkSync(join(trustDir, 'ngrok-ca.pem'), join(trustDir, 'ab12cd34.0')); // c_rehash-style link
  mkdirSync(join(trustDir, '..data')); // ConfigMap internals and hidden files are skipped
  writeFileSync(join(trustDir, '.hidden'), 'not a certificate');
  mkdirSync(join(trustDir, 'subdir'));
  const caFile = join(dir, 'extra.pem');
  writeFileSync(caFile, pki.ingressCA.certPem);

  const trust = loadIngressTrust({ ingressCA: caFile, trustDir });
  assert.equal(trust.extraCount, 3);
  assert.deepEqual(trust.sources, [
    caFile,
    join(trustDir, 'ab12cd34.0'),
    join(trustDir, 'bundle.crt'),
    join(trustDir, 'ngrok-ca.pem'),
  ]);
  assert.ok(trust.ca.length > 3 + 50, 'system roots are included');
  const fingerprints = new Set(trust.ca.map(fingerprint));
  assert.ok(fingerprints.has(fingerprint(pki.ingressCA.certPem)));

  const bare = loadIngressTrust({ trustDir: join(dir, 'missing'), systemRoots: false });
  assert.deepEqual(bare, { ca: [], sources: [], extraCount: 0 });
});

test('unreadable or invalid PEM files fail with an error naming the file', () => {
  const missing = join(dir, 'nope.pem');
  assert.throws(
    () => loadIngressTrust({ ingressCA: missing, trustDir: join(dir, 'missing') }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.match(err.message, /nope\.pem cannot be read \(ENOENT\)/);
      return true;
    },
  );
  const junkDir = join(dir, 'junk');
  mkdirSync(junkDir);
  writeFileSync(join(junkDir, 'readme.txt'), 'hello');
  assert.throws(() => loadIngressTrust({ trustDir: junkDir }), /readme\.txt contains no PEM certificate/);
  const broken = join(dir, 'broken.pem');
  writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  assert.throws(
    () => loadIngressTrust({ ingressCA: broken, trustDir: join(dir, 'missing') }),
    /broken\.pem has an invalid certificate \(#1\)/,
  );
});

test('bootstrap pins a CA found in the presented chain by fingerprint, then normal verification works', async () => {
  const pinPath = join(dir, 'state', 'ingress-ca.pem');
  const pinned = await bootstrapIngressTrust({
    ingress: fake.address,
    servername: INGRESS_NAME,
    pinPath,
    fingerprint: fingerprint(pki.ingressCA.certPem),
    credentials: pki.client,
  });
  assert.equal(pinned.fingerprint256, fingerprint(pki.ingressCA.certPem));
  assert.equal(fingerprint(readFileSync(pinPath, 'utf8')), fingerprint(pki.ingressCA.certPem));
  assert.equal(fake.bytesReceived, 0, 'the probe wrote nothing');

  const trust = loadIngressTrust({ trustDir: join(dir, 'missing'), pinnedCA: pinPath, systemRoots: false });
  assert.equal(trust.extraCount, 1);
  const dialer = new BindingDialer({
    ingress: fake.address,
    servername: INGRESS_NAME,
    credentials: pki.client,
    trust,
  });
  // The fake refuses every request: getting its answer means TLS verified against the pinned CA.
  await assert.rejects(dialer.dial('web.prod', 80), { code: 'UPGRADE_REFUSED', ngrokCode: 'ERR_NGROK_TEST' });
});

test('bootstrap refuses a chain without the pinned CA, a wrong name, or a forged issuer; it writes nothing', async () => {
  const pinPath = join(dir, 'refused', 'ingress-ca.pem');
  await assert.rejects(
    bootstrapIngressTrust({
      ingress: fake.address,
      servername: INGRESS_NAME,
      pinPath,
      fingerprint: NGROK_INGRESS_CA_SHA256,
    }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'INGRESS_UNTRUSTED');
      assert.match(err.message, /does not contain the CA with fingerprint CF:CE:8A/);
      return true;
    },
  );
  await assert.rejects(
    bootstrapIngressTrust({
      ingress: fake.address,
      servername: 'evil.test',
      pinPath,
      fingerprint: fingerprint(pki.ingressCA.certPem),
    }),
    /evil\.test/,
  );

  // A chain that names the pinned CA as issuer but was signed by another key: same subject, new key.
  const impostor = await intermediateAuthority('Intermediate CA', pki.root);
  const leaf = await leafCertificate(impostor, { cn: INGRESS_NAME, dns: [INGRESS_NAME], usage: 'server' });
  const forged = await startIngress({
    identity: { certPem: `${leaf.certPem}\n${pki.ingressCA.certPem}\n`, keyPem: leaf.keyPem },
    clientCA: pki.clientCA.certPem,
    answer: () => ({ raw: Buffer.alloc(0) }),
  });
  try {
    await assert.rejects(
      bootstrapIngressTrust({
        ingress: forged.address,
        servername: INGRESS_NAME,
        pinPath,
        fingerprint: fingerprint(pki.ingressCA.certPem),
      }),
      /is not validly signed by/,
    );
  } finally {
    await forged.close();
  }
  assert.equal(existsSync(pinPath), false);
});
