import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  HostRewriteStream,
  HostRewriter,
  MAX_HEAD_BYTES,
  MAX_HELD_BYTES,
  hostHeaderValue,
} from '../../../../main/engine/forwarder/host-rewrite.ts';
import { seededRandom } from '../../../support/seeded-random.ts';

const WEB = { hostname: 'web.prod', port: 80 };
const SWITCHING = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const text = (parts: Buffer[]): string => Buffer.concat(parts).toString('latin1');

/** A request as curl --http2 sends it over plain HTTP: with `Upgrade: h2c`, here by IP. */
function h2cRequest(path: string, host = '10.107.0.5'): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n` +
    'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n'
  );
}

function ok(body: string, extra = ''): string {
  return `HTTP/1.1 200 OK\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`;
}

/** Feed `input` in the given pieces and return everything emitted, as latin1 text. */
function run(
  input: string | Buffer,
  cuts: number[] = [],
  target = WEB,
): { out: string; rewriter: HostRewriter } {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const rewriter = new HostRewriter(target);
  const parts: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    parts.push(...rewriter.push(bytes.subarray(start, cut)));
    start = cut;
  }
  parts.push(...rewriter.end());
  return { out: Buffer.concat(parts).toString('latin1'), rewriter };
}

function randomCuts(length: number, rand: () => number): number[] {
  const cuts: number[] = [];
  for (let i = 1; i < length; i++) if (rand() < 0.08) cuts.push(i);
  return cuts;
}

/** Chunked transfer coding of `pieces`, with optional trailer lines. */
function chunked(pieces: string[], trailers = ''): string {
  return pieces.map((p) => `${p.length.toString(16)};ext=1\r\n${p}\r\n`).join('') + `0\r\n${trailers}\r\n`;
}

/** A keep-alive conversation: GET, Content-Length POST, chunked PUT with trailers, GET without Host. */
function conversation(host: (n: number) => string): string {
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n'; // body bytes that look like a request
  return (
    `GET /a HTTP/1.1\r\n${host(1)}Accept: */*\r\n\r\n` +
    `POST /b HTTP/1.1\r\n${host(2)}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}` +
    `PUT /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n${host(3)}\r\n` +
    chunked(['hello', 'Host: inside-a-chunk\r\n\r\n', '0\r\n\r\n'], 'X-Trailer: t\r\n') +
    `DELETE /d HTTP/1.0\r\n${host(4)}\r\n`
  );
}

test('hostHeaderValue carries the port only when it is not 80', () => {
  assert.equal(hostHeaderValue(WEB), 'web.prod');
  assert.equal(hostHeaderValue({ hostname: 'web.prod', port: 8080 }), 'web.prod:8080');
});

test('a matching Host passes through untouched and without copying the head', () => {
  const input = Buffer.from('GET / HTTP/1.1\r\nhost: WEB.prod:80\r\nAccept: */*\r\n\r\n', 'latin1');
  const rewriter = new HostRewriter(WEB);
  const out = rewriter.push(input);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.buffer, input.buffer, 'the output is a view of the input');
  assert.equal(Buffer.concat(out).toString('latin1'), input.toString('latin1'));
  assert.equal(rewriter.rewritten, 0);
});

test('Host given as the IP (with or without port) is rewritten to the endpoint host', () => {
  for (const host of ['10.107.0.5', '10.107.0.5:80', '127.0.0.1:8080', '[::1]:80', 'other.example']) {
    const { out, rewriter } = run(`GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: ${host}\r\nAccept: a\r\n\r\n`);
    assert.equal(out, 'GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: web.prod\r\nAccept: a\r\n\r\n', host);
    assert.equal(rewriter.rewritten, 1);
  }
});

test('a missing Host is inserted after the request line, with the port when it is not 80', () => {
  const { out } = run('GET / HTTP/1.1\r\nAccept: a\r\n\r\n', [], { hostname: 'db.prod', port: 8080 });
  assert.equal(out, 'GET / HTTP/1.1\r\nHost: db.prod:8080\r\nAccept: a\r\n\r\n');
});

test('every request of a keep-alive connection is rewritten; bodies are never touched', () => {
  const input = conversation((n) => (n === 4 ? '' : `Host: 10.107.0.5\r\n`));
  const expected = conversation(() => 'Host: web.prod\r\n');
  const { out, rewriter } = run(input);
  assert.equal(out, expected);
  assert.equal(rewriter.rewritten, 4);
  assert.equal(rewriter.passthrough, false);
});

test('the conversation split at every single byte boundary gives the same output', () => {
  const input = conversation(() => 'Host: 10.107.0.5:80\r\n');
  const expected = conversation(() => 'Host: web.prod\r\n');
  for (let cut = 0; cut <= input.length; cut++)
    assert.equal(run(input, [cut]).out, expected, `cut at ${cut}`);
  const everyByte = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
  assert.equal(run(input, everyByte).out, expected);
});

test('random splits of random pipelined requests always give the expected rewrite', () => {
  const rand = seededRandom(7);
  for (let round = 0; round < 300; round++) {
    let input = '';
    let expected = '';
    const requests = 1 + Math.floor(rand() * 5);
    for (let i = 0; i < requests; i++) {
      const kind = Math.floor(rand() * 4);
      const hostPresent = rand() < 0.7;
      const matching = rand() < 0.4;
      const hostIn = hostPresent ? `Host: ${matching ? 'web.prod' : '10.107.0.5'}\r\n` : '';
      const hostOut = hostPresent && matching ? hostIn : 'Host: web.prod\r\n';
      const extra = `X-N: ${i}\r\n`;
      const bodyText = 'Host: evil\r\n\r\n'.repeat(Math.floor(rand() * 3));
      const line = `${['GET', 'POST', 'PATCH'][i % 3]} /r${i} HTTP/1.1\r\n`;
      // A missing Host is inserted right after the request line.
      const headOut = hostPresent ? `${line}${extra}${hostOut}` : `${line}${hostOut}${extra}`;
      const headIn = `${line}${extra}${hostIn}`;
      if (kind === 0) {
        input += `${headIn}\r\n`;
        expected += `${headOut}\r\n`;
      } else if (kind === 1) {
        const framing = `Content-Length: ${bodyText.length}\r\n\r\n${bodyText}`;
        input += headIn + framing;
        expected += headOut + framing;
      } else {
        const pieces = [bodyText, 'abc', '0123456789abcdef0123'].filter((p) => p !== '');
        const body = chunked(pieces, kind === 2 ? '' : 'X-Checksum: 1\r\nX-More: 2\r\n');
        const framing = `Transfer-Encoding: chunked\r\n\r\n${body}`;
        input += headIn + framing;
        expected += headOut + framing;
      }
    }
    const cuts = randomCuts(input.length, rand);
    assert.equal(run(input, cuts).out, expected, `round ${round}, cuts ${cuts.join(',')}`);
  }
});

test('LF-only line endings are understood', () => {
  const { out } = run('GET / HTTP/1.1\nHost: 1.2.3.4\nContent-Length: 2\n\nhiGET /2 HTTP/1.1\n\n');
  assert.equal(
    out,
    'GET / HTTP/1.1\nHost: web.prod\r\nContent-Length: 2\n\nhiGET /2 HTTP/1.1\nHost: web.prod\r\n\n',
  );
});

test('empty lines before a request line are kept and ignored', () => {
  const { out } = run('POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\nGET / HTTP/1.1\r\n\r\n');
  assert.equal(
    out,
    'POST / HTTP/1.1\r\nHost: web.prod\r\nContent-Length: 1\r\n\r\nx\r\nGET / HTTP/1.1\r\nHost: web.prod\r\n\r\n',
  );
});

test('Upgrade: the request is rewritten, and what follows waits for the answer', () => {
  const head = 'GET /ws HTTP/1.1\r\nHost: 10.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  const after = 'GET /not-http-any-more HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n\x81\x05hello';
  const rewriter = new HostRewriter(WEB);
  assert.equal(text(rewriter.push(bytes(head + after))), head.replace('10.0.0.1', 'web.prod'));
  assert.equal(rewriter.awaitingAnswer, true);
  // 101: the held bytes are the new protocol, released unchanged; so is everything after.
  assert.equal(text(rewriter.pushResponse(bytes(SWITCHING))), after);
  assert.equal(rewriter.passthrough, true);
  assert.equal(rewriter.passthroughReason, 'switched');
  assert.equal(rewriter.watchingResponses, false);
  assert.equal(
    text(rewriter.push(bytes('GET / HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n'))),
    'GET / HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n',
  );
});

test('CONNECT: a 2xx answer makes the rest a tunnel', () => {
  const head = 'CONNECT web.prod:443 HTTP/1.1\r\nHost: web.prod:443\r\n\r\n';
  const tunnel = '\x16\x03\x01GET / HTTP/1.1\r\n\r\n';
  const rewriter = new HostRewriter(WEB);
  assert.equal(text(rewriter.push(bytes(head + tunnel))), head);
  assert.equal(text(rewriter.pushResponse(bytes('HTTP/1.1 200 Connection established\r\n\r\n'))), tunnel);
  assert.equal(rewriter.passthroughReason, 'switched');
});

test('CONNECT refused (407): the connection stays HTTP and the next request is rewritten', () => {
  const rewriter = new HostRewriter(WEB);
  const connect = 'CONNECT web.prod:443 HTTP/1.1\r\nHost: web.prod:443\r\n\r\n';
  assert.equal(text(rewriter.push(bytes(`${connect}GET /next HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n`))), connect);
  const refused = 'HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nnope';
  assert.equal(text(rewriter.pushResponse(bytes(refused))), 'GET /next HTTP/1.1\r\nHost: web.prod\r\n\r\n');
  assert.equal(rewriter.passthrough, false);
});

test('non-HTTP/1 input passes through byte for byte, and is not held back', () => {
  const preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00';
  assert.equal(run(preface).out, preface);
  assert.equal(run(preface, [3, 9, 17]).out, preface);

  // A TLS ClientHello must be forwarded at once: nothing may wait for a head end that never comes.
  const rewriter = new HostRewriter(WEB);
  const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]);
  assert.deepEqual(Buffer.concat(rewriter.push(hello)), hello);
  assert.equal(rewriter.passthrough, true);

  // Same for a request line that cannot be one ("GET" followed by a non-space).
  const odd = new HostRewriter(WEB);
  assert.equal(Buffer.concat(odd.push(Buffer.from('GET\t/'))).toString(), 'GET\t/');
});

test('malformed or ambiguous heads pass through unchanged', () => {
  const cases = [
    'GET / HTTP/1.1\r\nHost: 1.2.3.4\r\nno colon here\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: 1.2.3.4\r\n folded: continuation\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: 1.2.3.4\r\nHost: 5.6.7.8\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: 1.2.3.4\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: 1.2.3.4\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    'POST / HTTP/1.1\r\nHost: 1.2.3.4\r\nContent-Length: -1\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: 1.2.3.4\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    'GET / HTTP/3\r\nHost: 1.2.3.4\r\n\r\n',
    'GET /\r\n\r\n',
    'GE(T / HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n',
  ];
  for (const input of cases) {
    const { out, rewriter } = run(input);
    assert.equal(out, input, JSON.stringify(input));
    assert.equal(rewriter.passthrough, true, JSON.stringify(input));
    assert.equal(run(input, [5, 20, 21]).out, input);
  }
});

test('a bad chunk size line switches to passthrough without losing bytes', () => {
  const input =
    'POST / HTTP/1.1\r\nHost: 1.2.3.4\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n';
  const { out, rewriter } = run(input, [70]);
  assert.equal(out, input.replace('1.2.3.4', 'web.prod'));
  assert.equal(rewriter.passthrough, true);
});

test('a body that contains request-like text is counted, not parsed', () => {
  const body = 'GET /x HTTP/1.1\r\nHost: 1.1.1.1\r\n\r\n';
  const input = `POST / HTTP/1.1\r\nHost: web.prod\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const { out, rewriter } = run(input);
  assert.equal(out, input);
  assert.equal(rewriter.rewritten, 0);
  assert.equal(rewriter.passthrough, false);
});

test('a head larger than the cap passes through unchanged', () => {
  const big = `GET / HTTP/1.1\r\nHost: 1.2.3.4\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\nGET / HTTP/1.1\r\n\r\n`;
  const { out, rewriter } = run(big, [100, 40_000]);
  assert.equal(out, big);
  assert.equal(rewriter.passthrough, true);
});

test('an incomplete head is held, and released unchanged when the input ends', () => {
  const rewriter = new HostRewriter(WEB);
  assert.deepEqual(rewriter.push(Buffer.from('GET / HTTP/1.1\r\nHost: 1.2.')), []);
  assert.equal(Buffer.concat(rewriter.end()).toString(), 'GET / HTTP/1.1\r\nHost: 1.2.');
});

test('HostRewriteStream rewrites through a stream pipeline', async () => {
  const input = conversation(() => 'Host: 10.107.0.5\r\n');
  const pieces = [input.slice(0, 10), input.slice(10, 100), input.slice(100)].map((s) =>
    Buffer.from(s, 'latin1'),
  );
  const out: Buffer[] = [];
  const stream = new HostRewriteStream({ hostname: 'web.prod', port: 8080 });
  await pipeline(Readable.from(pieces), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  assert.equal(
    Buffer.concat(out).toString('latin1'),
    conversation(() => 'Host: web.prod:8080\r\n'),
  );
  assert.equal(stream.rewriter.rewritten, 4);
});

test('mutated input: the output never depends on how it was split, and nothing is lost', () => {
  const rand = seededRandom(99);
  const base = Buffer.from(
    conversation(() => 'Host: 10.107.0.5\r\n'),
    'latin1',
  );
  const alphabet = Buffer.from('\r\n:; \t0aF-Hh\x00\xff', 'latin1');
  for (let round = 0; round < 500; round++) {
    const input = Buffer.from(base);
    for (let m = 0; m < 1 + Math.floor(rand() * 4); m++) {
      input[Math.floor(rand() * input.length)] = alphabet[Math.floor(rand() * alphabet.length)] as number;
    }
    const whole = run(input);
    const split = run(input, randomCuts(input.length, rand));
    assert.equal(split.out, whole.out, `round ${round}`);
    if (whole.rewriter.rewritten === 0) assert.equal(whole.out, input.toString('latin1'));
    // Every input byte is still there, in order: rewrites only replace Host values.
    const stripHosts = (s: string) =>
      s
        .split('\n')
        .filter((line) => !/^host:/i.test(line))
        .join('\n');
    assert.equal(stripHosts(whole.out), stripHosts(input.toString('latin1')), `round ${round}`);
  }
});

/**
 * Play a conversation: client bytes and server bytes in the order they travel, each side fed in
 * the given pieces. Returns what went to the ingress.
 */
function converse(
  steps: { client?: string; server?: string }[],
  cuts = 1,
): { sent: string; rewriter: HostRewriter } {
  const rewriter = new HostRewriter(WEB);
  const sent: Buffer[] = [];
  const pieces = (s: string): Buffer[] => {
    const b = bytes(s);
    const size = Math.max(1, Math.ceil(b.length / cuts));
    const out: Buffer[] = [];
    for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
    return out;
  };
  for (const step of steps) {
    if (step.client !== undefined) for (const p of pieces(step.client)) sent.push(...rewriter.push(p));
    if (step.server !== undefined)
      for (const p of pieces(step.server)) sent.push(...rewriter.pushResponse(p));
  }
  sent.push(...rewriter.end());
  return { sent: text(sent), rewriter };
}

test('a declined Upgrade: h2c (200 over HTTP/1.1) keeps rewriting requests 2 and 3 of the connection', () => {
  const rewriter = new HostRewriter(WEB);
  const out1 = text(rewriter.push(bytes(h2cRequest('/1'))));
  assert.equal(out1, h2cRequest('/1', 'web.prod'));
  assert.equal(text(rewriter.pushResponse(bytes(ok('one')))), '');
  assert.equal(rewriter.awaitingAnswer, false);
  for (const path of ['/2', '/3']) {
    assert.equal(text(rewriter.push(bytes(h2cRequest(path)))), h2cRequest(path, 'web.prod'));
    assert.equal(rewriter.awaitingAnswer, true, 'waits for the answer to each upgrade request');
    assert.equal(text(rewriter.pushResponse(bytes(ok(path)))), '');
  }
  assert.equal(rewriter.rewritten, 3);
  assert.equal(rewriter.passthrough, false);
});

test('bytes after an upgrade request are held until its answer, then rewritten when it is declined', () => {
  const rewriter = new HostRewriter(WEB);
  // Pipelined: request 2 comes before answer 1.
  const sent = text(rewriter.push(bytes(h2cRequest('/1') + h2cRequest('/2'))));
  assert.equal(sent, h2cRequest('/1', 'web.prod'), 'request 2 is held, neither rewritten blindly nor sent');
  assert.equal(
    text(rewriter.pushResponse(bytes(ok('one').slice(0, 10)))),
    '',
    'a partial status line decides nothing',
  );
  assert.equal(text(rewriter.pushResponse(bytes(ok('one').slice(10)))), h2cRequest('/2', 'web.prod'));
  assert.equal(text(rewriter.pushResponse(bytes(ok('two')))), '');
  assert.equal(rewriter.rewritten, 2);
});

test('pipelined plain, upgrade and plain requests: each answer is matched to its request', () => {
  const requests = `GET /a HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n${h2cRequest('/b')}GET /c HTTP/1.1\r\n\r\n`;
  const answerA = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHTTP/\r\n0\r\nX-T: 1\r\n\r\n';
  const expected = `GET /a HTTP/1.1\r\nHost: web.prod\r\n\r\n${h2cRequest('/b', 'web.prod')}GET /c HTTP/1.1\r\nHost: web.prod\r\n\r\n`;
  for (const cuts of [1, 3, 17, 200]) {
    const { sent, rewriter } = converse(
      [{ client: requests }, { server: answerA + ok('b') + ok('c') }],
      cuts,
    );
    assert.equal(sent, expected, `cuts ${cuts}`);
    assert.equal(rewriter.rewritten, 3);
    assert.equal(rewriter.passthrough, false);
  }
});

test('a 101 after pipelined answers switches: held bytes go out unchanged', () => {
  const preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00';
  const requests = `GET /a HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n${h2cRequest('/b')}${preface}`;
  for (const cuts of [1, 5, 64]) {
    const { sent, rewriter } = converse(
      [{ client: requests }, { server: `${ok('a')}${SWITCHING}\x00\x00\x06\x04\x00\x00\x00\x00\x00` }],
      cuts,
    );
    assert.equal(sent, `GET /a HTTP/1.1\r\nHost: web.prod\r\n\r\n${h2cRequest('/b', 'web.prod')}${preface}`);
    assert.equal(rewriter.passthroughReason, 'switched');
  }
});

test('100 Continue does not answer the request; the final status does', () => {
  const post = 'POST /up HTTP/1.1\r\nHost: 10.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n';
  const rewriter = new HostRewriter(WEB);
  assert.equal(text(rewriter.push(bytes(post))), post.replace('10.0.0.1', 'web.prod'));
  assert.equal(text(rewriter.pushResponse(bytes('HTTP/1.1 100 Continue\r\n\r\n'))), '');
  assert.equal(
    text(rewriter.push(bytes(`hello${h2cRequest('/next')}GET /after HTTP/1.1\r\n\r\n`))),
    `hello${h2cRequest('/next', 'web.prod')}`,
  );
  // The POST's final answer (after its 100) must not be taken for the upgrade's.
  assert.equal(text(rewriter.pushResponse(bytes(ok('stored')))), '');
  assert.equal(rewriter.awaitingAnswer, true);
  // An interim answer to the upgrade request decides nothing either.
  assert.equal(text(rewriter.pushResponse(bytes('HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n'))), '');
  assert.equal(
    text(rewriter.pushResponse(bytes(ok('next')))),
    'GET /after HTTP/1.1\r\nHost: web.prod\r\n\r\n',
  );
});

test('an upgrade request with a body waits only after its body, and a 101 is honoured', () => {
  const body = 'x'.repeat(300);
  const head = `POST /u HTTP/1.1\r\nHost: 10.0.0.1\r\nUpgrade: h2c\r\nContent-Length: ${body.length}\r\n\r\n`;
  const { sent, rewriter } = converse([{ client: head + body + 'h2 frames' }, { server: SWITCHING }], 7);
  assert.equal(sent, head.replace('10.0.0.1', 'web.prod') + body + 'h2 frames');
  assert.equal(rewriter.passthroughReason, 'switched');
});

test('the answer to HEAD has no body, even with a Content-Length', () => {
  const requests = `HEAD /big HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n${h2cRequest('/b')}GET /c HTTP/1.1\r\n\r\n`;
  const answers = 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + ok('b') + ok('c');
  const { sent, rewriter } = converse([{ client: requests }, { server: answers }]);
  assert.equal(sent.endsWith('GET /c HTTP/1.1\r\nHost: web.prod\r\n\r\n'), true);
  assert.equal(rewriter.rewritten, 3);
});

test('204 and 304 answers have no body', () => {
  const requests = `GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n${h2cRequest('/c')}GET /d HTTP/1.1\r\n\r\n`;
  const answers =
    'HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n' +
    ok('c');
  const { sent } = converse([{ client: requests }, { server: answers }], 3);
  assert.equal(sent.endsWith('GET /d HTTP/1.1\r\nHost: web.prod\r\n\r\n'), true);
});

test('response bodies are skipped by their length, whatever they contain', () => {
  const fake = `${SWITCHING}HTTP/1.1 200 OK\r\n\r\n`;
  const chunkedFake = `HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${fake.length.toString(16)};x=y\r\n${fake}\r\n0\r\nTrailer: ${'t'.repeat(100)}\r\n\r\n`;
  const requests = `GET /a HTTP/1.1\r\n\r\n${h2cRequest('/b')}GET /c HTTP/1.1\r\n\r\n${h2cRequest('/d')}GET /e HTTP/1.1\r\n\r\n`;
  const answers = ok(fake) + chunkedFake + ok('d') + ok('e');
  for (const cuts of [1, 2, 9, 31]) {
    const { sent, rewriter } = converse([{ client: requests }, { server: answers }], cuts);
    assert.equal(rewriter.rewritten, 5, `cuts ${cuts}`);
    assert.equal(rewriter.passthrough, false, `cuts ${cuts}`);
    assert.equal(sent.endsWith('GET /e HTTP/1.1\r\nHost: web.prod\r\n\r\n'), true);
  }
});

test('an answer without a length ends at close: a later upgrade request switches to passthrough', () => {
  const rewriter = new HostRewriter(WEB);
  rewriter.push(bytes('GET /stream HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n'));
  assert.equal(text(rewriter.pushResponse(bytes('HTTP/1.1 200 OK\r\n\r\nstreaming...'))), '');
  assert.equal(rewriter.watchingResponses, false);
  // Keep-alive requests are still rewritten; an upgrade request can no longer be answered, so
  // whatever follows it is not touched (and not held).
  assert.equal(
    text(rewriter.push(bytes('GET /x HTTP/1.1\r\n\r\n'))),
    'GET /x HTTP/1.1\r\nHost: web.prod\r\n\r\n',
  );
  const after = 'GET /y HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n';
  assert.equal(text(rewriter.push(bytes(h2cRequest('/u') + after))), h2cRequest('/u', 'web.prod') + after);
  assert.equal(rewriter.passthroughReason, 'unanswered');
});

test('answers that are not HTTP/1.x stop the tracking, and held bytes are released unchanged', () => {
  const rewriter = new HostRewriter(WEB);
  const after = 'GET /y HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n';
  assert.equal(text(rewriter.push(bytes(h2cRequest('/u') + after))), h2cRequest('/u', 'web.prod'));
  assert.equal(text(rewriter.pushResponse(bytes('\x00\x00\x12\x04'))), after);
  assert.equal(rewriter.passthroughReason, 'unanswered');
});

test('more than MAX_HELD_BYTES after an upgrade request: everything goes out unchanged, in order', () => {
  const rewriter = new HostRewriter(WEB);
  assert.equal(text(rewriter.push(bytes(h2cRequest('/u')))), h2cRequest('/u', 'web.prod'));
  const first = Buffer.alloc(MAX_HELD_BYTES - 10, 0x61);
  assert.deepEqual(rewriter.push(first), []);
  const second = Buffer.alloc(20, 0x62);
  assert.deepEqual(Buffer.concat(rewriter.push(second)), Buffer.concat([first, second]));
  assert.equal(rewriter.passthroughReason, 'hold-limit');
});

test('when the ingress ends without answering, held bytes are released unchanged', () => {
  const rewriter = new HostRewriter(WEB);
  const after = 'GET /y HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n';
  rewriter.push(bytes(h2cRequest('/u') + after));
  assert.equal(text(rewriter.abandon()), after);
  assert.equal(rewriter.passthrough, true);
  // Without an upgrade waiting, the end of answers changes nothing for plain requests.
  const plain = new HostRewriter(WEB);
  assert.deepEqual(plain.abandon(), []);
  assert.equal(text(plain.push(bytes('GET / HTTP/1.1\r\n\r\n'))), 'GET / HTTP/1.1\r\nHost: web.prod\r\n\r\n');
});

test('the HTTP/2 prior-knowledge preface is passed through and named', () => {
  const preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00';
  const { out, rewriter } = run(preface, [4, 11]);
  assert.equal(out, preface);
  assert.equal(rewriter.passthroughReason, 'h2c');
  assert.equal(rewriter.watchingResponses, false);
});

test('a conversation with upgrades and every answer shape gives the same result at every split', () => {
  const requests =
    `POST /a HTTP/1.1\r\nHost: 10.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc` +
    `HEAD /b HTTP/1.1\r\n\r\n${h2cRequest('/c')}GET /d HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n`;
  const answers =
    'HTTP/1.1 100 Continue\r\n\r\n' +
    ok('a') +
    'HTTP/1.1 200 OK\r\nContent-Length: 77\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
    ok('d');
  const expected = converse([{ client: requests }, { server: answers }]).sent;
  assert.equal(expected.match(/Host: web\.prod/g)?.length, 4);
  for (let cut = 1; cut < answers.length; cut++) {
    const rewriter = new HostRewriter(WEB);
    const sent = [...rewriter.push(bytes(requests))];
    sent.push(...rewriter.pushResponse(bytes(answers.slice(0, cut))));
    sent.push(...rewriter.pushResponse(bytes(answers.slice(cut))));
    sent.push(...rewriter.end());
    assert.equal(text(sent), expected, `answers cut at ${cut}`);
    assert.equal(rewriter.passthrough, false);
  }
});

test('whatever the answers are, the requests go out whole and in order, only Host lines changed', () => {
  const rand = seededRandom(2024);
  const requests =
    `GET /a HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n${h2cRequest('/b')}` +
    `POST /c HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody${h2cRequest('/d')}GET /e HTTP/1.1\r\n\r\n`;
  const base = bytes(
    'HTTP/1.1 100 Continue\r\n\r\n' + ok('a') + ok('b', 'X: 1\r\n') + SWITCHING + ok('d') + ok('e'),
  );
  const alphabet = bytes('\r\n:; \t01HTP/.-\x00');
  const stripHosts = (s: string) =>
    s
      .split('\n')
      .filter((line) => !/^host:/i.test(line))
      .join('\n');
  for (let round = 0; round < 400; round++) {
    const answers = Buffer.from(base);
    for (let m = 0; m < 1 + Math.floor(rand() * 4); m++)
      answers[Math.floor(rand() * answers.length)] = alphabet[Math.floor(rand() * alphabet.length)] as number;
    const rewriter = new HostRewriter(WEB);
    const sent: Buffer[] = [];
    const input = bytes(requests);
    let r = 0;
    let a = 0;
    while (r < input.length || a < answers.length) {
      if (r < input.length && (a >= answers.length || rand() < 0.5)) {
        const n = 1 + Math.floor(rand() * 40);
        sent.push(...rewriter.push(input.subarray(r, r + n)));
        r += n;
      } else {
        const n = 1 + Math.floor(rand() * 40);
        sent.push(...rewriter.pushResponse(answers.subarray(a, a + n)));
        a += n;
      }
    }
    sent.push(...rewriter.end());
    assert.equal(stripHosts(text(sent)), stripHosts(requests), `round ${round}`);
  }
});
