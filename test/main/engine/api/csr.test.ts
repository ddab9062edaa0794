import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { test } from 'node:test';
import 'reflect-metadata';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { certificateMatchesKey, createKeyAndCsr, parseCertificate } from '../../../../main/engine/api/csr.ts';
import { TestCa } from './api-fixtures.ts';

test('the CSR has an empty subject, a P-256 key, ECDSA-with-SHA512 and a valid signature', async () => {
  const { keyPem, csrPem } = await createKeyAndCsr();
  assert.match(
    csrPem,
    /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+\n-----END CERTIFICATE REQUEST-----\n?$/,
  );
  const csr = new Pkcs10CertificateRequest(csrPem);
  assert.equal(csr.subject, '');
  assert.equal(csr.extensions.length, 0);
  assert.equal(csr.attributes.length, 0);
  assert.deepEqual(csr.publicKey.algorithm, { name: 'ECDSA', namedCurve: 'P-256' });
  assert.deepEqual(csr.signatureAlgorithm, { name: 'ECDSA', hash: { name: 'SHA-512' } });
  assert.equal(await csr.verify(), true);

  assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const key = createPrivateKey(keyPem);
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('every call makes a new key', async () => {
  const [a, b] = await Promise.all([createKeyAndCsr(), createKeyAndCsr()]);
  assert.notEqual(a.keyPem, b.keyPem);
  assert.notEqual(a.csrPem, b.csrPem);
});

test('an issued certificate is read back and matched to its key, and works with node:tls', async () => {
  const ca = await TestCa.create();
  const mine = await createKeyAndCsr();
  const other = await createKeyAndCsr();
  const issued = await ca.issue(mine.csrPem, 90);

  const info = parseCertificate(issued.certPem);
  assert.equal(info.notBefore.getTime(), issued.notBefore.getTime());
  assert.equal(info.notAfter.getTime(), issued.notAfter.getTime());
  assert.match(info.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

  assert.equal(certificateMatchesKey(issued.certPem, mine.keyPem), true);
  assert.equal(certificateMatchesKey(issued.certPem, other.keyPem), false);
  assert.equal(certificateMatchesKey('garbage', mine.keyPem), false);
  assert.equal(certificateMatchesKey(issued.certPem, 'garbage'), false);
  assert.throws(() => parseCertificate('not a certificate'));

  assert.doesNotThrow(() => createSecureContext({ key: mine.keyPem, cert: issued.certPem }));
});
