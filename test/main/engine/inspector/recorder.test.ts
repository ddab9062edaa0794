/**
 * The recorder over the forwarder's parser, without sockets: the same pipelined conversation fed
 * whole, byte by byte and in random pieces gives the same records (the parser's whole-head fast
 * path and its line-by-line path agree), with headers redacted and in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED } from '../../../../main/common/contract.ts';
import { parseEndpointUrl } from '../../../../main/common/endpoint-url.ts';
import { HostRewriter } from '../../../../main/engine/forwarder/host-rewrite.ts';
import { ConnectionRecorder } from '../../../../main/engine/inspector/recorder.ts';
import { RequestStore } from '../../../../main/engine/inspector/store.ts';
import { seededRandom } from '../../../support/seeded-random.ts';

const address = parseEndpointUrl('http://web.prod');

const requests = [
  'GET /a HTTP/1.1\r\nHost: web.prod\r\nAuthorization: Bearer secret-a\r\n\r\n',
  'HEAD /b HTTP/1.1\r\nHost: web.prod\r\nCookie: s=1\r\n\r\n',
  'POST /c HTTP/1.1\r\nHost: web.prod\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello',
  'GET /d HTTP/1.1\r\nHost: web.prod\r\n\r\n',
  'DELETE /e HTTP/1.1\r\nHost: web.prod\r\nX-Api-Key: k\r\n\r\n',
].join('');
const responses = [
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nSet-Cookie: s=2\r\n\r\nabc',
  'HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n', // HEAD: no body whatever the length says
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\nX-Trailer: t\r\n\r\n',
  '\r\nHTTP/1.1 204 No Content\r\nServer: s\r\n\r\n', // a stray CRLF before the status line
  'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
].join('');

function cutsOf(length: number, mode: 'whole' | 'bytes' | number): number[] {
  if (mode === 'whole') return [];
  if (mode === 'bytes') return Array.from({ length: length - 1 }, (_, i) => i + 1);
  const rand = seededRandom(mode);
  const cuts: number[] = [];
  for (let i = 1; i < length; i++) if (rand() < 0.1) cuts.push(i);
  return cuts;
}

function pieces(text: string, mode: 'whole' | 'bytes' | number): Buffer[] {
  const buf = Buffer.from(text, 'latin1');
  const out: Buffer[] = [];
  let start = 0;
  for (const cut of [...cutsOf(buf.length, mode), buf.length]) {
    out.push(buf.subarray(start, cut));
    start = cut;
  }
  return out;
}

function record(mode: 'whole' | 'bytes' | number): unknown[] {
  const store = new RequestStore({ redactHeaders: ['x-api-key'] });
  const rewriter = new HostRewriter(address, new ConnectionRecorder(store, address));
  for (const p of pieces(requests, mode)) rewriter.push(p);
  for (const p of pieces(responses, mode)) rewriter.pushResponse(p);
  return store.list().map((r) => {
    const d = store.get(r.id);
    return [
      d?.method,
      d?.path,
      d?.status,
      d?.bytes_out,
      d?.bytes_in,
      d?.request_headers,
      d?.response_headers,
    ];
  });
}

test('whole, byte by byte and random pieces give the same records', () => {
  const expected = record('whole');
  assert.deepEqual(expected, [
    [
      'GET',
      '/a',
      200,
      67,
      58,
      [
        ['Host', 'web.prod'],
        ['Authorization', REDACTED],
      ],
      [
        ['Content-Length', '3'],
        ['Set-Cookie', REDACTED],
      ],
    ],
    [
      'HEAD',
      '/b',
      200,
      49,
      40,
      [
        ['Host', 'web.prod'],
        ['Cookie', REDACTED],
      ],
      [['Content-Length', '999']],
    ],
    [
      'POST',
      '/c',
      201,
      82,
      79, // the final answer: the interim 100 is not counted
      [
        ['Host', 'web.prod'],
        ['Content-Length', '5'],
        ['Expect', '100-continue'],
      ],
      [['Transfer-Encoding', 'chunked']],
    ],
    ['GET', '/d', 204, 35, 40, [['Host', 'web.prod']], [['Server', 's']]], // 40: the stray CRLF counts
    [
      'DELETE',
      '/e',
      404,
      52,
      45,
      [
        ['Host', 'web.prod'],
        ['X-Api-Key', REDACTED],
      ],
      [['Content-Length', '0']],
    ],
  ]);
  assert.deepEqual(record('bytes'), expected);
  for (let seed = 1; seed <= 20; seed++) assert.deepEqual(record(seed), expected, `seed ${seed}`);
});

test('once answers cannot be followed, every request is recorded unanswered as it ends, not held', () => {
  const store = new RequestStore({ perEndpoint: 100 });
  const rewriter = new HostRewriter(address, new ConnectionRecorder(store, address));
  rewriter.push(Buffer.from('GET /first HTTP/1.1\r\nHost: web.prod\r\n\r\n'));
  rewriter.pushResponse(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')); // not HTTP: answers are lost
  for (let i = 0; i < 500; i++) rewriter.push(Buffer.from(`GET /n${i} HTTP/1.1\r\nHost: web.prod\r\n\r\n`));
  const records = store.list();
  assert.equal(records.length, 100, 'recorded as they end (the store keeps its last 100)');
  assert.equal(records.at(-1)?.path, '/n499');
  assert.ok(records.every((r) => r.status === null && r.error === 'NO_RESPONSE'));
  assert.equal(store.lastId, 501, 'every request got its record');
});
