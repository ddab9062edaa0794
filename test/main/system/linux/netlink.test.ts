import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NgrokdError } from '../../../../main/common/errors.ts';
import { validateInterfaceName } from '../../../../main/common/interface-name.ts';
import {
  addressRequest,
  attribute,
  createLinkRequest,
  dumpRequest,
  encodeMessage,
  IFA_LOCAL,
  NetlinkError,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLMSG_DONE,
  parseAck,
  parseAddress,
  parseAttributes,
  parseLink,
  parseMessages,
  parseRoute,
  RTM_GETADDR,
  RTM_NEWADDR,
  takeDumpReplies,
  type DumpProgress,
  type NetlinkMessage,
} from '../../../../main/system/linux/netlink.ts';

const RTM_NEWROUTE = 24;
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const only = (data: Buffer): NetlinkMessage => {
  const [message, ...rest] = parseMessages(data);
  assert.equal(rest.length, 0);
  assert.ok(message);
  return message;
};

test('RTM_NEWADDR for 10.107.0.5/32 on ifindex 7 has the exact kernel layout', () => {
  const bytes = encodeMessage(addressRequest(RTM_NEWADDR, { index: 7, ip: '10.107.0.5', prefix: 32 }), 1);
  const expected = hex(`
    28000000 1400 0506 01000000 00000000
    02 20 00 00 07000000
    0800 0200 0a6b0005
    0800 0100 0a6b0005`);
  // nlmsghdr: len 40, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq 1, pid 0;
  // ifaddrmsg: AF_INET, /32, no flags, scope universe, index 7; IFA_LOCAL then IFA_ADDRESS.
  assert.deepEqual(bytes, expected);
});

test('RTM_NEWLINK nests IFLA_INFO_KIND inside IFLA_LINKINFO, padded to 4 bytes', () => {
  const bytes = encodeMessage(createLinkRequest({ name: 'ngrokd0', kind: 'dummy' }), 2);
  const expected = Buffer.concat([
    hex('3c000000 1000 0506 02000000 00000000'),
    hex('00 00 0000 00000000 00000000 00000000'),
    hex('0c00 0300'),
    Buffer.from('ngrokd0\0'),
    hex('1000 1200 0a00 0100'),
    Buffer.from('dummy\0'),
    hex('0000'),
  ]);
  assert.deepEqual(bytes, expected);
  // A link message has the same shape, so the parser reads the request back.
  assert.deepEqual(parseLink(only(bytes)), {
    index: 0,
    name: 'ngrokd0',
    flags: 0,
    kind: 'dummy',
    alias: null,
  });
});

test('an NLMSG_ERROR yields the errno and the extended-ACK text', () => {
  const text = Buffer.from('Unknown device type\0');
  const capped = Buffer.concat([
    hex('3c000000 0200 0003 05000000 d2040000'), // NLMSG_ERROR, CAPPED|ACK_TLVS, seq 5, pid 1234
    hex('a1ffffff'), // -95
    hex('3c000000 1000 0506 05000000 00000000'), // the request's header only
    hex('1800 0100'),
    text,
  ]);
  assert.deepEqual(parseAck(only(capped)), { errno: 95, kernelMessage: 'Unknown device type' });

  const request = encodeMessage(addressRequest(RTM_NEWADDR, { index: 7, ip: '10.107.0.5', prefix: 32 }), 6);
  const uncapped = Buffer.concat([hex('3c000000 0200 0000 06000000 00000000'), hex('efffffff'), request]);
  assert.deepEqual(parseAck(only(uncapped)), { errno: 17, kernelMessage: null });

  const ack = Buffer.concat([hex('24000000 0200 0001 07000000 00000000 00000000'), request.subarray(0, 16)]);
  assert.deepEqual(parseAck(only(ack)), { errno: 0, kernelMessage: null });

  const error = new NetlinkError(
    'adding 10.107.0.5/16 to interface "ngrokd0"',
    17,
    'Address already assigned',
  );
  assert.equal(
    error.message,
    'adding 10.107.0.5/16 to interface "ngrokd0": File exists (EEXIST) (kernel: Address already assigned)',
  );
});

function addressReply(ip: string, seq: number, flags: number): Buffer {
  const body = Buffer.concat([hex('02 10 80 00 03000000'), attribute(IFA_LOCAL, hex(ipHex(ip)))]);
  return encodeMessage({ type: RTM_NEWADDR, flags, body }, seq);
}

function ipHex(ip: string): string {
  return ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join('');
}

function done(seq: number, status: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeInt32LE(status, 0);
  return encodeMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI, body }, seq);
}

test('a dump spread over datagrams is collected until NLMSG_DONE and copied out', () => {
  const first = Buffer.concat([
    addressReply('10.107.0.1', 9, NLM_F_MULTI),
    addressReply('10.107.0.2', 9, NLM_F_MULTI),
    addressReply('192.0.2.1', 8, NLM_F_MULTI), // a stale answer to another request
  ]);
  const second = Buffer.concat([addressReply('10.107.0.3', 9, NLM_F_MULTI), done(9, 0)]);
  const progress: DumpProgress = { replies: [], interrupted: false, done: false };
  takeDumpReplies(progress, parseMessages(first), 9, 'dump');
  assert.equal(progress.done, false);
  first.fill(0); // the socket reuses its receive buffer
  takeDumpReplies(progress, parseMessages(second), 9, 'dump');
  assert.equal(progress.done, true);
  assert.equal(progress.interrupted, false);
  assert.deepEqual(
    progress.replies.map(parseAddress),
    ['10.107.0.1', '10.107.0.2', '10.107.0.3'].map((ip) => ({ index: 3, ip, prefix: 16 })),
  );
});

test('a dump reports interruption, a failed NLMSG_DONE and an error reply', () => {
  const progress: DumpProgress = { replies: [], interrupted: false, done: false };
  const interrupted = Buffer.concat([
    addressReply('10.107.0.1', 3, NLM_F_MULTI | NLM_F_DUMP_INTR),
    done(3, 0),
  ]);
  takeDumpReplies(progress, parseMessages(interrupted), 3, 'dump');
  assert.equal(progress.interrupted, true);

  const fresh = (): DumpProgress => ({ replies: [], interrupted: false, done: false });
  assert.throws(
    () => takeDumpReplies(fresh(), parseMessages(done(4, -16)), 4, 'address dump'),
    (err: unknown) =>
      err instanceof NetlinkError && err.errno === 16 && /^address dump: .*EBUSY/.test(err.message),
  );
  const error = Buffer.concat([hex('24000000 0200 0001 05000000 00000000 f3ffffff'), Buffer.alloc(16)]);
  assert.throws(
    () => takeDumpReplies(fresh(), parseMessages(error), 5, 'address dump'),
    (err: unknown) => err instanceof NetlinkError && err.errno === 13,
  );
});

test('dump requests carry the full family header and NLM_F_DUMP', () => {
  assert.deepEqual(
    encodeMessage(dumpRequest(RTM_GETADDR), 1),
    hex('18000000 1600 0103 01000000 00000000 02000000 00000000'),
  );
});

test('a route message yields table, type, destination, prefix, output interface, gateway and source', () => {
  const body = Buffer.concat([
    hex('02 18 00 00 fe 04 00 01 00000000'), // AF_INET, /24, main table, static, universe, unicast
    hex('0800 0f00 fe000000'), // RTA_TABLE 254
    hex('0800 0100 0a6b0500'), // RTA_DST 10.107.5.0
    hex('0800 0400 03000000'), // RTA_OIF 3
  ]);
  const message = only(encodeMessage({ type: RTM_NEWROUTE, flags: NLM_F_MULTI, body }, 1));
  assert.deepEqual(parseRoute(message), {
    table: 254,
    type: 1,
    dst: '10.107.5.0',
    prefix: 24,
    oif: 3,
    gateway: null,
    prefsrc: null,
  });
  // A route-get answer toward the ingress: via a gateway, from a preferred source address.
  const via = Buffer.concat([
    body,
    hex('0800 0500 c0a80101'), // RTA_GATEWAY 192.168.1.1
    hex('0800 0700 c0a8012a'), // RTA_PREFSRC 192.168.1.42
  ]);
  const answer = parseRoute(only(encodeMessage({ type: RTM_NEWROUTE, flags: 0, body: via }, 2)));
  assert.equal(answer?.gateway, '192.168.1.1');
  assert.equal(answer?.prefsrc, '192.168.1.42');
});

test('lengths that run past the data are refused, not read', () => {
  assert.throws(() => parseMessages(hex('64000000 1400 0000 00000000 00000000')), /malformed netlink data/);
  assert.throws(() => parseAttributes(hex('0200 0100')), /malformed netlink data/);
  assert.throws(() => parseAttributes(hex('0c00 0100 00000000')), /malformed netlink data/);
});

test('interface names: at most 15 bytes of A-Z a-z 0-9 _ . -, not "." or ".."', () => {
  for (const name of ['ngrokd0', 'a', 'a'.repeat(15), 'ng-rok_d.1'])
    assert.equal(validateInterfaceName(name), name);
  const refused: Array<[string, RegExp]> = [
    ['', /"" is not a valid interface name: it is empty/],
    ['a'.repeat(16), /is 16 bytes long/],
    ['eth 0', /contains " "/],
    ['ngrokd/0', /contains "\/"/],
    ['ngrökd', /contains "ö"/],
    ['.', /path component/],
    ['..', /path component/],
  ];
  for (const [name, problem] of refused) {
    assert.throws(
      () => validateInterfaceName(name),
      (err: unknown) =>
        err instanceof NgrokdError &&
        err.code === 'CONFIG_INVALID' &&
        err.message.includes(JSON.stringify(name)) &&
        problem.test(err.message) &&
        err.message.includes('allowed: 1 to 15 characters from A-Z a-z 0-9 _ . -'),
      name,
    );
  }
});
