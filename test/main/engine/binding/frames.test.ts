import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NgrokdError } from '../../../../main/common/errors.ts';
import {
  FrameAccumulator,
  MAX_FRAME,
  decodeConnRequestMessage,
  decodeConnResponseMessage,
  encodeConnRequest,
  encodeConnRequestMessage,
  encodeConnResponse,
  encodeConnResponseMessage,
  frame,
  type ConnRequest,
  type ConnResponse,
} from '../../../../main/engine/binding/frames.ts';
import { seededRandom } from '../../../support/seeded-random.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const WORKED_EXAMPLE = hex('0c 00 0a 08 77 65 62 2e 70 72 6f 64 10 50');

/** Unknown fields 9..12, one of each wire type that can be skipped: varint, fixed64, bytes, fixed32. */
const UNKNOWN_FIELDS = hex(
  '48 ac 02' + // field 9, varint 300
    '51 01 02 03 04 05 06 07 08' + // field 10, fixed64
    '5a 03 61 62 63' + // field 11, length-delimited "abc"
    '65 01 02 03 04', // field 12, fixed32
);

function protocolError(fn: () => unknown, why?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof NgrokdError, `expected NgrokdError, got ${String(err)}`);
    assert.equal(err.code, 'PROTOCOL_ERROR');
    if (why !== undefined) assert.match(err.message, why);
    return true;
  });
}

test('the worked example: host web.prod, port 80', () => {
  assert.deepEqual(encodeConnRequest({ host: 'web.prod', port: 80 }), WORKED_EXAMPLE);
  assert.deepEqual(decodeConnRequestMessage(WORKED_EXAMPLE.subarray(2)), { host: 'web.prod', port: 80 });
});

test('proto3 defaults are not written', () => {
  assert.equal(encodeConnRequestMessage({ host: '', port: 0 }).length, 0);
  assert.equal(encodeConnResponseMessage({}).length, 0);
  assert.deepEqual(decodeConnResponseMessage(Buffer.alloc(0)), {
    endpointId: '',
    proto: '',
    errorCode: '',
    errorMessage: '',
    notices: [],
  });
});

test('ConnRequest with pod identity round-trips, including odd annotation keys', () => {
  const request: ConnRequest = {
    host: 'my-api.ngrok.app',
    port: 443,
    podIdentity: {
      uid: 'b7c1',
      name: 'laptop',
      namespace: 'dev',
      annotations: { 'a.b/c': 'd', empty: '', ünï: 'cödé' },
    },
  };
  assert.deepEqual(decodeConnRequestMessage(encodeConnRequestMessage(request)), request);

  const proto = JSON.parse('{"__proto__": "kept", "constructor": "too"}') as Record<string, string>;
  const decoded = decodeConnRequestMessage(
    encodeConnRequestMessage({
      host: 'h.p',
      port: 1,
      podIdentity: { uid: '', name: '', namespace: '', annotations: proto },
    }),
  );
  assert.deepEqual(Object.entries(decoded.podIdentity?.annotations ?? {}), [
    ['__proto__', 'kept'],
    ['constructor', 'too'],
  ]);
  assert.equal(Object.getPrototypeOf(decoded.podIdentity?.annotations), Object.prototype);
});

test('negative and large int64 ports survive the varint encoding', () => {
  for (const port of [1, 127, 128, 65535, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
    assert.equal(decodeConnRequestMessage(encodeConnRequestMessage({ host: 'a.b', port })).port, port);
  }
  assert.equal(
    encodeConnRequestMessage({ host: '', port: -1 }).length,
    11,
    'negative int64 is a 10-byte varint',
  );
});

test('ConnResponse round-trips with notices', () => {
  const response: ConnResponse = {
    endpointId: 'ep_2abc',
    proto: 'http',
    errorCode: 'ERR_NGROK_28001',
    errorMessage: 'pod identity required',
    notices: ['first', '', 'third'],
  };
  const framed = encodeConnResponse(response);
  assert.equal(framed.readUInt16LE(0), framed.length - 2);
  assert.deepEqual(decodeConnResponseMessage(framed.subarray(2)), response);
});

test('unknown fields of every wire type are skipped, at top level and in nested messages', () => {
  const request = encodeConnRequestMessage({
    host: 'web.prod',
    port: 80,
    podIdentity: { uid: 'u', name: 'n', namespace: 'ns', annotations: { k: 'v' } },
  });
  const withUnknown = Buffer.concat([UNKNOWN_FIELDS, request, UNKNOWN_FIELDS]);
  assert.deepEqual(decodeConnRequestMessage(withUnknown), decodeConnRequestMessage(request));

  // Nested: PodIdentity (field 3) and a map entry, each with unknown fields inside.
  const entry = Buffer.concat([UNKNOWN_FIELDS, hex('0a 01 6b 12 01 76'), UNKNOWN_FIELDS]);
  const pod = Buffer.concat([hex('0a 01 75'), UNKNOWN_FIELDS, hex('22'), Buffer.from([entry.length]), entry]);
  const nested = Buffer.concat([hex('1a'), Buffer.from([pod.length]), pod]);
  assert.deepEqual(decodeConnRequestMessage(nested).podIdentity, {
    uid: 'u',
    name: '',
    namespace: '',
    annotations: { k: 'v' },
  });

  // Notice (field 5) with an unknown field before its Message.
  const notice = Buffer.concat([UNKNOWN_FIELDS, hex('0a 02 68 69')]);
  const response = Buffer.concat([
    UNKNOWN_FIELDS,
    hex('2a'),
    Buffer.from([notice.length]),
    notice,
    hex('1a 01 45'),
  ]);
  const decoded = decodeConnResponseMessage(response);
  assert.deepEqual(decoded.notices, ['hi']);
  assert.equal(decoded.errorCode, 'E');
});

test('malformed messages fail with PROTOCOL_ERROR naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['0a', /truncated varint/], // tag without length
    ['0a 05 61 62', /runs past the end/], // length beyond the message
    ['10 ff ff ff ff ff ff ff ff ff ff 01', /longer than 10 bytes/],
    ['10 80', /truncated varint/],
    ['51 01 02 03', /truncated fixed-width/], // fixed64 cut short
    ['65 01 02', /truncated fixed-width/], // fixed32 cut short
    ['5b 00', /wire type 3/], // start group
    ['5c', /wire type 4/], // end group
    ['5e 00', /wire type 6/],
    ['5f 00', /wire type 7/],
    ['00 00', /invalid field number/],
    ['80 80 80 80 80 01 00', /invalid field number/], // tag beyond 32 bits
    ['08 01', /field 1 has wire type 0, expected 2/], // host as a varint
    ['12 01 50', /field 2 has wire type 2, expected 0/], // port as bytes
    ['10 80 80 80 80 80 80 80 80 40', /out of range/], // port beyond 2^53
    ['1a 02 08 01', /field 1 has wire type 0/], // PodIdentity.uid as varint
  ];
  for (const [bytes, why] of cases) protocolError(() => decodeConnRequestMessage(hex(bytes)), why);
  protocolError(() => decodeConnResponseMessage(hex('2a 02 08 01')), /field 1 has wire type 0/);
  protocolError(() => decodeConnResponseMessage(hex('2a 05 0a 01')), /runs past the end/);
});

test('frame() refuses messages over 65,535 bytes', () => {
  assert.equal(frame(Buffer.alloc(MAX_FRAME)).length, MAX_FRAME + 2);
  protocolError(() => frame(Buffer.alloc(MAX_FRAME + 1)), /exceeds 65535/);
});

test('FrameAccumulator: byte by byte, and bytes after the frame are returned, not dropped', () => {
  const response = encodeConnResponse({ endpointId: 'ep_1' });
  const stream = Buffer.concat([response, Buffer.from('raw stream bytes')]);
  const acc = new FrameAccumulator();
  let result: ReturnType<FrameAccumulator['push']> = null;
  let i = 0;
  for (; i < stream.length && result === null; i++) result = acc.push(stream.subarray(i, i + 1));
  assert.equal(i, response.length, 'complete exactly at the last frame byte');
  assert.equal(decodeConnResponseMessage(result?.message ?? Buffer.alloc(0)).endpointId, 'ep_1');
  assert.equal(result?.rest.length, 0);

  const whole = new FrameAccumulator().push(stream);
  assert.equal(whole?.rest.toString(), 'raw stream bytes');
  const empty = new FrameAccumulator().push(hex('00 00 ff'));
  assert.deepEqual(empty, { message: Buffer.alloc(0), rest: hex('ff') });
});

test('fuzz: random and mutated frames decode or throw PROTOCOL_ERROR, nothing else', () => {
  const rand = seededRandom(2024);
  const byte = (): number => Math.floor(rand() * 256);
  const seeds = [
    WORKED_EXAMPLE.subarray(2),
    encodeConnRequestMessage({
      host: 'my-api.ngrok.app',
      port: -5,
      podIdentity: { uid: 'u', name: 'n', namespace: 'ns', annotations: { a: 'b', c: 'd' } },
    }),
    encodeConnResponseMessage({
      endpointId: 'ep_x',
      proto: 'tcp',
      errorCode: 'E',
      errorMessage: 'm',
      notices: ['n1', 'n2'],
    }),
    Buffer.concat([UNKNOWN_FIELDS, WORKED_EXAMPLE.subarray(2)]),
  ];
  let decoded = 0;
  let rejected = 0;
  const check = (input: Buffer): void => {
    for (const decode of [decodeConnRequestMessage, decodeConnResponseMessage]) {
      try {
        decode(input);
        decoded++;
      } catch (err) {
        assert.ok(
          err instanceof NgrokdError && err.code === 'PROTOCOL_ERROR',
          `${input.toString('hex')}: ${String(err)}`,
        );
        rejected++;
      }
    }
    // The accumulator never throws and never loses bytes, however the input is split.
    const framed = Buffer.concat([Buffer.from([input.length & 0xff, input.length >> 8]), input, input]);
    const acc = new FrameAccumulator();
    let result: ReturnType<FrameAccumulator['push']> = null;
    for (let start = 0; start < framed.length && result === null;) {
      const end = Math.min(framed.length, start + 1 + Math.floor(rand() * 8));
      result = acc.push(framed.subarray(start, end));
      if (result !== null) {
        assert.deepEqual(result.message, input);
        assert.deepEqual(
          Buffer.concat([result.message, result.rest, framed.subarray(end)]),
          Buffer.concat([input, input]),
        );
      }
      start = end;
    }
  };

  for (let i = 0; i < 2000; i++) {
    check(Buffer.from(Array.from({ length: Math.floor(rand() * 48) }, byte)));
  }
  for (let i = 0; i < 3000; i++) {
    const seed = seeds[i % seeds.length] as Buffer;
    const mutated = Buffer.from(seed);
    const kind = Math.floor(rand() * 3);
    if (kind === 0) {
      for (let m = 0; m < 1 + Math.floor(rand() * 3); m++)
        mutated[Math.floor(rand() * mutated.length)] = byte();
      check(mutated);
    } else if (kind === 1) {
      check(mutated.subarray(0, Math.floor(rand() * mutated.length)));
    } else {
      const at = Math.floor(rand() * mutated.length);
      check(Buffer.concat([mutated.subarray(0, at), Buffer.from([byte(), byte()]), mutated.subarray(at)]));
    }
  }
  assert.ok(
    decoded > 100 && rejected > 100,
    `both outcomes exercised (decoded ${decoded}, rejected ${rejected})`,
  );
});
