import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NgrokdError } from '../../../main/common/errors.ts';
import {
  contains,
  intToIp,
  ipToInt,
  isReserved,
  overlaps,
  parseCidr,
  parseIpv4,
  usableSize,
} from '../../../main/common/subnet.ts';

function assertSubnetInvalid(text: string, ...fragments: (string | RegExp)[]) {
  assert.throws(
    () => parseCidr(text),
    (err: unknown) => {
      assert.ok(err instanceof NgrokdError);
      assert.equal(err.code, 'SUBNET_INVALID');
      assert.ok(err.message.includes(JSON.stringify(text)), `message names the value: ${err.message}`);
      assert.match(err.message, /allowed: .*\/8 to \/30/);
      assert.ok(err.fix.length > 0);
      for (const fragment of fragments) {
        if (typeof fragment === 'string')
          assert.ok(err.message.includes(fragment), `${err.message} ∌ ${fragment}`);
        else assert.match(err.message, fragment);
      }
      return true;
    },
  );
}

test('a /16 parses with its network, gateway, broadcast and size', () => {
  const subnet = parseCidr('10.107.0.0/16');
  assert.equal(subnet.cidr, '10.107.0.0/16');
  assert.equal(subnet.prefix, 16);
  assert.equal(intToIp(subnet.network), '10.107.0.0');
  assert.equal(intToIp(subnet.gateway), '10.107.0.1');
  assert.equal(intToIp(subnet.broadcast), '10.107.255.255');
  assert.equal(subnet.size, 65_536);
  assert.equal(usableSize(subnet), 65_533);
});

test('addresses at the top of the IPv4 space stay unsigned', () => {
  const subnet = parseCidr('255.255.255.252/30');
  assert.equal(subnet.broadcast, 0xffffffff);
  assert.equal(intToIp(subnet.broadcast), '255.255.255.255');
  assert.equal(usableSize(subnet), 1);
  assert.equal(ipToInt('255.255.255.255'), 4294967295);
});

test('bad subnets are refused with the value and what is allowed', () => {
  assertSubnetInvalid('10.107.0.0/33', '/33');
  assertSubnetInvalid('300.1.0.0/16', 'octet 300 is above 255');
  assertSubnetInvalid('fd00::/64', 'IPv6');
  assertSubnetInvalid('10.0.0.0/31', 'too small');
  assertSubnetInvalid('10.0.0.0/32', 'too small');
  assertSubnetInvalid('10.0.0.0/7', 'too large');
  assertSubnetInvalid('garbage', 'a.b.c.d/prefix');
  assertSubnetInvalid('10.107.0.0', 'a.b.c.d/prefix');
  assertSubnetInvalid(' 10.107.0.0/16', 'not a dotted-quad');
  assertSubnetInvalid('10.107.0/16', 'not a dotted-quad');
  assertSubnetInvalid('010.107.0.0/16', 'leading zero');
  assertSubnetInvalid('10.107.0.0/016');
  assertSubnetInvalid('10.0.0.0/08', 'a.b.c.d/prefix');
  assertSubnetInvalid('');
});

test('host bits set: the message suggests the network', () => {
  assertSubnetInvalid('10.107.0.1/16', 'host bits set', 'did you mean 10.107.0.0/16');
  assertSubnetInvalid('127.107.3.4/24', 'did you mean 127.107.3.0/24');
});

test('strict IPv4 parsing and formatting round trip', () => {
  assert.equal(parseIpv4('10.107.3.4'), (10 << 24) + (107 << 16) + (3 << 8) + 4);
  assert.equal(intToIp(parseIpv4('10.107.3.4') as number), '10.107.3.4');
  for (const bad of [
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.4 ',
    '::1',
    '',
    'a.b.c.d',
    '1..2.3',
  ])
    assert.equal(parseIpv4(bad), null, bad);
  assert.throws(() => ipToInt('1.2.3.999'), { code: 'SUBNET_INVALID', message: /"1\.2\.3\.999".*above 255/ });
});

test('contains, reserved and overlaps', () => {
  const a = parseCidr('10.107.0.0/16');
  assert.ok(contains(a, '10.107.255.254'));
  assert.ok(contains(a, '10.107.0.0'));
  assert.ok(!contains(a, '10.108.0.0'));
  assert.ok(!contains(a, 'not an ip'));
  assert.ok(isReserved(a, a.network) && isReserved(a, a.gateway) && isReserved(a, a.broadcast));
  assert.ok(!isReserved(a, a.network + 2));
  assert.ok(overlaps(a, parseCidr('10.107.8.0/24')));
  assert.ok(overlaps(parseCidr('10.0.0.0/8'), a));
  assert.ok(!overlaps(a, parseCidr('10.108.0.0/16')));
  assert.ok(!overlaps(a, parseCidr('127.107.0.0/16')));
});
