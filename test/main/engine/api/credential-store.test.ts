import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NgrokdError } from '../../../../main/common/errors.ts';
import { CredentialStore } from '../../../../main/engine/api/credential-store.ts';
import { createKeyAndCsr } from '../../../../main/engine/api/csr.ts';
import { TestCa } from './api-fixtures.ts';

let root: string;
let ca: TestCa;
before(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'ngrokd-store-'));
  ca = await TestCa.create();
});
after(() => fsp.rm(root, { recursive: true, force: true }));

async function issuedPair(): Promise<{ keyPem: string; certPem: string }> {
  const { keyPem, csrPem } = await createKeyAndCsr();
  return { keyPem, certPem: (await ca.issue(csrPem)).certPem };
}

async function mode(path: string): Promise<number> {
  return (await fsp.stat(path)).mode & 0o777;
}

const operator = {
  id: 'k8sop_1',
  ingress_endpoint: 'ingress.test:443',
  region: 'global',
  created_at: '2025-01-01T00:00:00Z',
};

test('an empty state dir loads as nothing and is created 0700', async () => {
  const dir = join(root, 'fresh', 'state');
  const store = new CredentialStore(dir);
  assert.deepEqual(await store.load(), { operator: undefined, keyPem: undefined, certPem: undefined });
  assert.equal(await mode(dir), 0o700);
});

test('operator and credentials round-trip in 0600 files', async () => {
  const dir = join(root, 'roundtrip');
  const store = new CredentialStore(dir);
  const pair = await issuedPair();
  await store.saveOperator(operator);
  await store.saveCredentials(pair.keyPem, pair.certPem);
  assert.equal(await mode(dir), 0o700);
  assert.equal(await mode(store.operatorPath), 0o600);
  assert.equal(await mode(store.clientPemPath), 0o600);
  const loaded = await new CredentialStore(dir).load();
  assert.deepEqual(loaded.operator, operator);
  assert.equal(loaded.keyPem?.trim(), pair.keyPem.trim());
  assert.equal(loaded.certPem?.trim(), pair.certPem.trim());
  assert.deepEqual(
    (await fsp.readdir(dir)).sort(),
    ['client.pem', 'operator.json'],
    'no temp files left behind',
  );
});

test('loose permissions are tightened', async () => {
  const dir = join(root, 'loose');
  const store = new CredentialStore(dir);
  const first = await issuedPair();
  await store.saveCredentials(first.keyPem, first.certPem);
  await fsp.chmod(dir, 0o755);
  await fsp.chmod(store.clientPemPath, 0o644);
  await store.load();
  assert.equal(await mode(dir), 0o700);
  assert.equal(await mode(store.clientPemPath), 0o600);

  await fsp.chmod(store.clientPemPath, 0o644);
  const pair = await issuedPair();
  await store.saveCredentials(pair.keyPem, pair.certPem);
  assert.equal(await mode(store.clientPemPath), 0o600, 'a rewrite does not keep a loose mode');
});

test('a certificate that does not match the key loads as no certificate; saving one is refused', async () => {
  const dir = join(root, 'mismatch');
  const store = new CredentialStore(dir);
  const a = await issuedPair();
  const b = await issuedPair();
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(store.clientPemPath, `${a.keyPem}\n${b.certPem}`, { mode: 0o600 });
  const loaded = await store.load();
  assert.equal(loaded.keyPem?.trim(), a.keyPem.trim());
  assert.equal(loaded.certPem, undefined);
  await assert.rejects(store.saveCredentials(a.keyPem, b.certPem), /does not match/);
  assert.ok((await fsp.readFile(store.clientPemPath, 'utf8')).includes(b.certPem.trim()), 'file untouched');
});

test('a corrupt operator file loads as no operator', async () => {
  const dir = join(root, 'corrupt');
  const store = new CredentialStore(dir);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(store.operatorPath, '{"id": ', { mode: 0o600 });
  assert.equal((await store.load()).operator, undefined);
});

test('clear removes the registration and tolerates missing files', async () => {
  const dir = join(root, 'clear');
  const store = new CredentialStore(dir);
  const pair = await issuedPair();
  await store.saveOperator(operator);
  await store.saveCredentials(pair.keyPem, pair.certPem);
  await store.clear();
  await store.clear();
  assert.deepEqual(await store.load(), { operator: undefined, keyPem: undefined, certPem: undefined });
});

test('a state dir that is a file is a STATE_DIR error naming it', async () => {
  const file = join(root, 'not-a-dir');
  await fsp.writeFile(file, 'x');
  await assert.rejects(
    new CredentialStore(file).load(),
    (err: unknown) => err instanceof NgrokdError && err.code === 'STATE_DIR' && err.message.includes(file),
  );
});
