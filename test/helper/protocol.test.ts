import { test } from 'node:test';
import assert from 'node:assert/strict';
import koffi, { type TypeObject } from 'koffi';
import { NgrokdError } from '../../main/common/errors.ts';
import {
  decodePeerCredentials,
  isPeerAllowed,
  peerCredentialQuery,
  ucred,
  xucred,
} from '../../main/system/peer-credentials.ts';
import {
  decodeRequest,
  decodeResponse,
  decodeResult,
  defaultHelperSocketPath,
  encodeFrame,
  errorFromReply,
  FrameReader,
  MAX_ADDRESSES,
  MAX_FRAME_BYTES,
} from '../../helper/protocol.ts';
import { cmsgLen, cmsgSpace, decodeRights, encodeRights } from '../../main/system/fd-passing.ts';
import { socketAbi } from '../../main/system/libc.ts';
import { sockaddrUn } from '../../main/system/unix-stream-client.ts';

function request(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function refusal(payload: Buffer): { id: number; message: string } {
  const decoded = decodeRequest(payload);
  assert.equal(decoded.ok, false, `expected a refusal for ${payload.toString().slice(0, 80)}`);
  if (decoded.ok) throw new Error('unreachable');
  assert.equal(decoded.error.code, 'PROTOCOL_ERROR');
  return { id: decoded.id, message: decoded.error.message };
}

// --- Framing -----------------------------------------------------------------------------------

test('frames are a uint32 big-endian length and UTF-8 JSON', () => {
  const frame = encodeFrame({ id: 1, method: 'teardown', params: {} });
  const json = '{"id":1,"method":"teardown","params":{}}';
  assert.equal(frame.readUInt32BE(0), Buffer.byteLength(json));
  assert.equal(frame.subarray(4).toString('utf8'), json);
});

test('the frame reader reassembles frames split at every byte and several frames in one chunk', () => {
  const frames = [encodeFrame({ a: 'é' }), encodeFrame({ b: 2 }), encodeFrame({})];
  const all = Buffer.concat(frames);
  const reader = new FrameReader();
  const payloads: Buffer[] = [];
  for (const byte of all) payloads.push(...reader.push(Buffer.from([byte])));
  assert.deepEqual(
    payloads.map((p) => JSON.parse(p.toString())),
    [{ a: 'é' }, { b: 2 }, {}],
  );
  assert.equal(new FrameReader().push(all).length, 3);
  assert.equal(reader.buffered, 0);
});

test('a declared length over the cap is refused before any of it is buffered', () => {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
  assert.throws(
    () => new FrameReader().push(header),
    (err: NgrokdError) => {
      assert.equal(err.code, 'PROTOCOL_ERROR');
      assert.match(err.message, new RegExp(`${MAX_FRAME_BYTES + 1} bytes exceeds`));
      return true;
    },
  );
  const atCap = Buffer.alloc(4);
  atCap.writeUInt32BE(MAX_FRAME_BYTES, 0);
  assert.deepEqual(new FrameReader().push(atCap), [], 'a frame at the cap is accepted (and awaited)');
});

test('encoding a message over the cap throws instead of sending it', () => {
  assert.throws(() => encodeFrame({ big: 'x'.repeat(MAX_FRAME_BYTES) }), /exceeds the \d+-byte frame limit/);
});

// --- Requests ----------------------------------------------------------------------------------

test('every method decodes with valid params', () => {
  const valid = [
    { id: 1, method: 'hello', params: { version: '1.2.3', protocol: 1 } },
    { id: 2, method: 'ensureInterface', params: { name: 'ngrokd0', subnet: '10.107.0.0/16' } },
    { id: 3, method: 'setAddresses', params: { ips: ['10.107.0.2', '10.107.0.3'] } },
    { id: 4, method: 'setHosts', params: { entries: [{ ip: '10.107.0.2', hostname: 'web.prod' }] } },
    { id: 5, method: 'listen', params: { ip: '10.107.0.2', port: 443 } },
    { id: 6, method: 'teardown', params: {} },
  ];
  for (const value of valid) {
    const decoded = decodeRequest(request(value));
    assert.deepEqual(decoded, { ok: true, request: value });
  }
});

test('bad bytes, bad JSON and non-objects are refused with id 0', () => {
  assert.match(refusal(Buffer.from([0xff, 0xfe, 0x7b])).message, /not valid UTF-8/);
  assert.match(refusal(Buffer.from('{"id":1,')).message, /not valid JSON/);
  assert.match(refusal(Buffer.alloc(0)).message, /not valid JSON/);
  for (const value of [null, 7, 'hello', [1, 2]]) assert.equal(refusal(request(value)).id, 0);
});

test('the envelope is strict: id range, method type, no extra keys', () => {
  assert.match(refusal(request({ id: -1, method: 'teardown', params: {} })).message, /id/);
  assert.match(refusal(request({ id: 1.5, method: 'teardown', params: {} })).message, /id/);
  assert.match(refusal(request({ id: 2 ** 31, method: 'teardown', params: {} })).message, /id/);
  assert.match(refusal(request({ id: 1, method: 7, params: {} })).message, /method/);
  const extra = refusal(request({ id: 9, method: 'teardown', params: {}, sudo: true }));
  assert.equal(extra.id, 9, 'a recognisable id is echoed so the client can match the error');
  assert.match(extra.message, /sudo/);
});

test('unknown methods are refused and the allowed ones are named', () => {
  const { id, message } = refusal(request({ id: 4, method: 'exec', params: { cmd: 'rm -rf /' } }));
  assert.equal(id, 4);
  assert.match(
    message,
    /unknown method "exec" \(allowed: hello, ensureInterface, setAddresses, setHosts, listen, teardown, checkNetwork\)/,
  );
  assert.match(refusal(request({ id: 4, method: '__proto__', params: {} })).message, /unknown method/);
  assert.match(refusal(request({ id: 4, method: 'toString', params: {} })).message, /unknown method/);
});

test('params are strict: wrong types, missing fields, extra fields and out-of-range values', () => {
  const cases: [string, unknown][] = [
    ['hello', { version: 1, protocol: 1 }],
    ['hello', { version: '', protocol: 1 }],
    ['hello', { version: '1', protocol: 1.5 }],
    ['ensureInterface', { name: 'ngrokd0' }],
    ['ensureInterface', { name: 'ngrokd0', subnet: '10.107.0.0/16', mtu: 1500 }],
    ['setAddresses', { ips: '10.107.0.2' }],
    ['setAddresses', { ips: ['10.107.0.2', 7] }],
    ['setAddresses', { ips: ['10.107.0.2 ; reboot'] }],
    ['setHosts', { entries: [{ ip: '10.107.0.2' }] }],
    ['setHosts', { entries: [{ ip: '10.107.0.2', hostname: 'a.b', comment: 'x' }] }],
    ['setHosts', { entries: [{ ip: '10.107.0.2', hostname: 'a'.repeat(254) }] }],
    ['listen', { ip: '10.107.0.2', port: 0 }],
    ['listen', { ip: '10.107.0.2', port: 65536 }],
    ['listen', { ip: '10.107.0.2', port: '80' }],
    ['listen', { ip: '10.107.0.2', port: 80.5 }],
    ['teardown', { force: true }],
    ['teardown', []],
    ['checkNetwork', {}],
    ['checkNetwork', { name: 'ngrokd0', subnet: '10.107.0.0/16', table: 'all' }],
  ];
  for (const [method, params] of cases) {
    const { message } = refusal(request({ id: 3, method, params }));
    assert.match(message, new RegExp(`invalid params for ${method}`), JSON.stringify(params));
  }
});

test('the address count is capped', () => {
  const ips = Array.from({ length: MAX_ADDRESSES + 1 }, () => '10.107.0.2');
  assert.match(refusal(request({ id: 1, method: 'setAddresses', params: { ips } })).message, /ips/);
});

// --- Responses ---------------------------------------------------------------------------------

test('responses decode, and an unknown error code from another release becomes HELPER_ERROR', () => {
  assert.deepEqual(decodeResponse(request({ id: 3, ok: true, result: { port: 80 } })), {
    id: 3,
    ok: true,
    result: { port: 80 },
  });
  const failure = decodeResponse(
    request({ id: 4, ok: false, error: { code: 'NEW_CODE', message: 'm', fix: 'f' } }),
  );
  assert.deepEqual(failure, { id: 4, ok: false, error: { code: 'HELPER_ERROR', message: 'm', fix: 'f' } });
  assert.throws(() => decodeResponse(request({ id: 4, ok: 'yes' })), /invalid response/);
  assert.throws(
    () => decodeResponse(request({ id: 4, ok: false, error: { code: 'X' } })),
    /invalid response/,
  );
});

test('results are checked per method; hello stays readable across protocol versions', () => {
  assert.deepEqual(decodeResult('listen', { port: 443 }), { port: 443 });
  assert.throws(() => decodeResult('listen', { port: 0 }), /invalid listen result/);
  assert.throws(() => decodeResult('ensureInterface', { name: 'x', kind: 'tap', subnet: 's' }), /invalid/);
  assert.deepEqual(decodeResult('hello', { version: '0.0.1', protocol: 0, future: true }), {
    version: '0.0.1',
    protocol: 0,
  });
});

test('an error reply turns back into the NgrokdError the helper threw', () => {
  const original = new NgrokdError('PORT_IN_USE', '10.107.0.2:80 is already in use', 'Stop it.');
  const back = errorFromReply(original.toJSON());
  assert.ok(back instanceof NgrokdError);
  assert.deepEqual(back.toJSON(), original.toJSON());
});

test('the helper socket lives under /run on Linux and /var/run on macOS', () => {
  assert.equal(defaultHelperSocketPath('linux'), '/run/ngrokd-helper.sock');
  assert.equal(defaultHelperSocketPath('darwin'), '/var/run/ngrokd-helper.sock');
});

// --- C layouts ---------------------------------------------------------------------------------

function offsets(type: TypeObject): Record<string, number> {
  return Object.fromEntries(
    Object.keys(type.members ?? {}).map((name) => [name, koffi.offsetof(type, name)]),
  );
}

/** msghdr on 64-bit Linux and macOS up to msg_controllen; they part at msg_flags (and the size). */
const MSGHDR_64 = {
  msg_name: 0,
  msg_namelen: 8,
  msg_iov: 16,
  msg_iovlen: 24,
  msg_control: 32,
  msg_controllen: 40,
};

test('Linux x86-64/arm64 msghdr, cmsghdr and CMSG macros match <sys/socket.h>', () => {
  const abi = socketAbi('linux');
  assert.equal(koffi.sizeof(abi.msghdr), 56);
  assert.deepEqual(offsets(abi.msghdr), { ...MSGHDR_64, msg_flags: 48 });
  assert.equal(koffi.sizeof(abi.cmsghdr), 16);
  assert.deepEqual(offsets(abi.cmsghdr), { cmsg_len: 0, cmsg_level: 8, cmsg_type: 12 });
  assert.equal(cmsgLen(abi, 4), 20);
  assert.equal(cmsgSpace(abi, 4), 24);
  assert.equal(cmsgSpace(abi, 8), 24);
  assert.equal(cmsgSpace(abi, 12), 32);
});

test('macOS msghdr, cmsghdr and CMSG macros match <sys/socket.h> (32-bit aligned control data)', () => {
  const abi = socketAbi('darwin');
  assert.equal(koffi.sizeof(abi.msghdr), 48);
  assert.deepEqual(offsets(abi.msghdr), { ...MSGHDR_64, msg_flags: 44 });
  assert.equal(koffi.sizeof(abi.cmsghdr), 12);
  assert.equal(cmsgLen(abi, 4), 16);
  assert.equal(cmsgSpace(abi, 4), 16);
  assert.equal(abi.SOL_SOCKET, 0xffff);
});

test('an SCM_RIGHTS control message has the exact bytes the kernel expects, and decodes back', () => {
  const linux = encodeRights(socketAbi('linux'), [7]);
  assert.deepEqual(
    [...linux],
    [20, 0, 0, 0, 0, 0, 0, 0, /* level */ 1, 0, 0, 0, /* type */ 1, 0, 0, 0, /* fd */ 7, 0, 0, 0, 0, 0, 0, 0],
  );
  const darwin = encodeRights(socketAbi('darwin'), [7]);
  assert.deepEqual([...darwin], [16, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0]);
  for (const platform of ['linux', 'darwin'] as const) {
    const abi = socketAbi(platform);
    const two = Buffer.concat([encodeRights(abi, [3, 4]), encodeRights(abi, [9])]);
    assert.deepEqual(decodeRights(abi, two), [3, 4, 9], platform);
    assert.deepEqual(decodeRights(abi, two.subarray(0, 5)), [], 'a truncated header yields nothing');
  }
});

test('sockaddr_un is laid out per platform and over-long paths are refused', () => {
  const linux = sockaddrUn(socketAbi('linux'), '/run/x.sock');
  assert.deepEqual([...linux.subarray(0, 2)], [1, 0]);
  assert.equal(linux.subarray(2).toString(), '/run/x.sock\0');
  const darwin = sockaddrUn(socketAbi('darwin'), '/var/run/x.sock');
  assert.deepEqual([...darwin.subarray(0, 2)], [darwin.length, 1]);
  assert.equal(darwin.subarray(2).toString(), '/var/run/x.sock\0');
  assert.throws(() => sockaddrUn(socketAbi('linux'), `/${'a'.repeat(107)}`), /must be 1 to 107 bytes/);
  assert.throws(() => sockaddrUn(socketAbi('darwin'), `/${'a'.repeat(103)}`), /must be 1 to 103 bytes/);
  assert.throws(() => sockaddrUn(socketAbi('linux'), '/run/a\0b'), /without NUL/);
});

test('struct ucred (Linux) and struct xucred (macOS) layouts and decoding', () => {
  assert.equal(koffi.sizeof(ucred), 12);
  assert.deepEqual(offsets(ucred), { pid: 0, uid: 4, gid: 8 });
  assert.equal(koffi.sizeof(xucred), 76);
  assert.deepEqual(offsets(xucred), { cr_version: 0, cr_uid: 4, cr_ngroups: 8, cr_groups: 12 });
  assert.deepEqual(peerCredentialQuery('linux'), { level: 1, option: 17, struct: ucred });
  assert.deepEqual(peerCredentialQuery('darwin'), { level: 0, option: 1, struct: xucred });

  const linux = Buffer.alloc(12);
  linux.writeInt32LE(4321, 0);
  linux.writeUInt32LE(1000, 4);
  linux.writeUInt32LE(100, 8);
  assert.deepEqual(decodePeerCredentials('linux', linux), { pid: 4321, uid: 1000, gid: 100 });

  const darwin = Buffer.alloc(76);
  darwin.writeUInt32LE(0, 0);
  darwin.writeUInt32LE(501, 4);
  darwin.writeInt16LE(2, 8);
  darwin.writeUInt32LE(20, 12);
  darwin.writeUInt32LE(12, 16);
  assert.deepEqual(decodePeerCredentials('darwin', darwin), { uid: 501, gid: 20, pid: null });
  darwin.writeUInt32LE(1, 0);
  assert.throws(() => decodePeerCredentials('darwin', darwin), /xucred version 1/);
});

test('only root and the installing user are allowed', () => {
  assert.equal(isPeerAllowed({ uid: 0, gid: 0, pid: 1 }, 1000), true);
  assert.equal(isPeerAllowed({ uid: 1000, gid: 1000, pid: 1 }, 1000), true);
  assert.equal(isPeerAllowed({ uid: 1001, gid: 1000, pid: 1 }, 1000), false);
  assert.equal(isPeerAllowed({ uid: 65534, gid: 65534, pid: 1 }, null), false);
});
