/**
 * The listening-socket readers doctor uses: /proc/net/tcp{,6} rows (Linux, checked against this
 * process's own listener) and lsof's -F output (macOS, from a captured sample).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import {
  listeningSockets,
  parseLsofListeners,
  parseProcAddress,
  parseProcNetTcp,
} from '../../../main/system/listening-sockets.ts';

test('/proc/net/tcp addresses: little-endian IPv4, IPv6, IPv4-mapped and the wildcards', () => {
  assert.deepEqual(parseProcAddress('0100007F:0050'), { ip: '127.0.0.1', port: 80 });
  assert.deepEqual(parseProcAddress('02006B0A:1F90'), { ip: '10.107.0.2', port: 8080 });
  assert.deepEqual(parseProcAddress('00000000:0016'), { ip: '0.0.0.0', port: 22 });
  assert.deepEqual(parseProcAddress('00000000000000000000000000000000:0016'), { ip: '::', port: 22 });
  assert.deepEqual(parseProcAddress('0000000000000000FFFF00000300870A:01BB'), {
    ip: '10.135.0.3',
    port: 443,
  });
  assert.deepEqual(parseProcAddress('00000000000000000000000001000000:0277'), {
    ip: '0:0:0:0:0:0:0:1',
    port: 631,
  });
  assert.equal(parseProcAddress('garbage'), null);
});

test('only LISTEN rows (state 0A) are kept, with their inode', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:0CEA 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1',
  ].join('\n');
  assert.deepEqual(parseProcNetTcp(text), [{ ip: '127.0.0.1', port: 3306, inode: '12345' }]);
});

test("lsof -F pn: each name belongs to the process line before it; this process's are ours", () => {
  const sample = [
    'p88',
    'n*:22',
    'n[::1]:631',
    'p4242',
    'n10.107.0.2:80',
    'n127.0.0.1:5432',
    'p90',
    'n[*]:8080',
  ].join('\n');
  assert.deepEqual(parseLsofListeners(sample, 4242), [
    { ip: '0.0.0.0', port: 22, ours: false, pid: 88 },
    { ip: '::1', port: 631, ours: false, pid: 88 },
    { ip: '10.107.0.2', port: 80, ours: true, pid: 4242 },
    { ip: '127.0.0.1', port: 5432, ours: true, pid: 4242 },
    { ip: '::', port: 8080, ours: false, pid: 90 },
  ]);
});

test(
  'on Linux a socket this process listens on is found and is ours',
  { skip: process.platform !== 'linux' },
  async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const sockets = (await listeningSockets('linux')) ?? [];
      const mine = sockets.find((s) => s.ip === '127.0.0.1' && s.port === port);
      assert.deepEqual(mine, { ip: '127.0.0.1', port, ours: true, pid: process.pid });
    } finally {
      server.close();
    }
  },
);

test('elsewhere the answer is "cannot tell", not an empty list', async () => {
  assert.equal(await listeningSockets('win32'), null);
});
