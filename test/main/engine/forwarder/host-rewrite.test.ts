import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  HostRewriteStream,
  HostRewriter,
  MAX_HEAD_BYTES,
  hostHeaderValue,
} from '../../../../main/engine/forwarder/host-rewrite.ts';
import { seededRandom } from '../../../support/seeded-random.ts';

const WEB = { hostname: 'web.prod', port: 80 };

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

test('Upgrade: the upgrade request is rewritten, everything after it passes through', () => {
  const head = 'GET /ws HTTP/1.1\r\nHost: 10.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  const after = 'GET /not-http-any-more HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n\x81\x05hello';
  const { out, rewriter } = run(head + after, [head.length + 3]);
  assert.equal(out, head.replace('10.0.0.1', 'web.prod') + after);
  assert.equal(rewriter.passthrough, true);
});

test('CONNECT switches to passthrough after its head', () => {
  const input =
    'CONNECT web.prod:443 HTTP/1.1\r\nHost: web.prod:443\r\n\r\n\x16\x03\x01GET / HTTP/1.1\r\n\r\n';
  const { out, rewriter } = run(input);
  assert.equal(out, input);
  assert.equal(rewriter.passthrough, true);
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
