import assert from 'node:assert/strict';
import { test } from 'node:test';
import koffi from 'koffi';
import {
  addAddressCommand,
  addRouteCommand,
  deleteRouteCommand,
  flushDnsCommands,
  removeAddressCommand,
} from '../../../../main/system/macos/commands.ts';
import {
  AF_SYS_CONTROL,
  AF_SYSTEM,
  CTL_INFO,
  CTLIOCGINFO,
  decodeCtlId,
  decodeUtunName,
  encodeCtlInfo,
  encodeSockaddrCtl,
  iowr,
  openUtun,
  PF_SYSTEM,
  SOCKADDR_CTL,
  SOCK_DGRAM,
  SYSPROTO_CONTROL,
  UTUN_CONTROL_NAME,
  UTUN_OPT_IFNAME,
  type UtunLibc,
} from '../../../../main/system/macos/utun.ts';

test('CTLIOCGINFO is _IOWR(N, 3, struct ctl_info) = 0xc0644e03', () => {
  assert.equal(CTLIOCGINFO, 0xc0644e03);
  // Other well-known BSD ioctls computed the same way.
  assert.equal(iowr('i', 38, 32), 0xc0206926); // SIOCGIFFLAGS
  assert.equal(iowr('i', 33, 32), 0xc0206921); // SIOCGIFADDR
});

test('ctl_info and sockaddr_ctl have the kernel layouts', () => {
  assert.equal(koffi.sizeof(CTL_INFO), 100);
  assert.equal(koffi.offsetof(CTL_INFO, 'ctl_id'), 0);
  assert.equal(koffi.offsetof(CTL_INFO, 'ctl_name'), 4);
  assert.equal(koffi.sizeof(SOCKADDR_CTL), 32);
  assert.deepEqual(
    ['sc_len', 'sc_family', 'ss_sysaddr', 'sc_id', 'sc_unit', 'sc_reserved'].map((f) =>
      koffi.offsetof(SOCKADDR_CTL, f),
    ),
    [0, 1, 2, 4, 8, 12],
  );
});

test('a filled ctl_info is the id then the NUL-padded control name', () => {
  const info = encodeCtlInfo(UTUN_CONTROL_NAME);
  assert.equal(info.length, 100);
  const expected = Buffer.alloc(100);
  expected.write('com.apple.net.utun_control', 4, 'latin1');
  assert.deepEqual(info, expected);
  info.writeUInt32LE(0x2a, 0); // what the kernel writes back
  assert.equal(decodeCtlId(info), 0x2a);
  assert.throws(() => encodeCtlInfo('x'.repeat(96)), /does not fit ctl_name\[96\]/);
});

test('a filled sockaddr_ctl is len 32, AF_SYSTEM, AF_SYS_CONTROL, id, unit, zeros', () => {
  const address = encodeSockaddrCtl(0x11223344, 6);
  assert.deepEqual(
    address,
    Buffer.from([32, 32, 2, 0, 0x44, 0x33, 0x22, 0x11, 6, 0, 0, 0, ...Array<number>(20).fill(0)]),
  );
  assert.equal(AF_SYSTEM, 32);
  assert.equal(AF_SYS_CONTROL, 2);
});

test('the utun name is read up to its NUL and must be utunN', () => {
  const name = Buffer.alloc(16);
  name.write('utun7', 'latin1');
  assert.equal(decodeUtunName(name, 6), 'utun7');
  const other = Buffer.alloc(16);
  other.write('en0', 'latin1');
  assert.throws(() => decodeUtunName(other, 4), { code: 'HELPER_ERROR', message: /"en0"/ });
});

interface Call {
  name: string;
  args: unknown[];
}

/** A libc that behaves like the macOS kernel for one utun (or fails at `failAt`). */
function fakeLibc(options: { failAt?: string; errno?: number } = {}): { libc: UtunLibc; calls: Call[] } {
  const calls: Call[] = [];
  const fail = (name: string) => options.failAt === name;
  const libc: UtunLibc = {
    socket: (...args) => (calls.push({ name: 'socket', args }), fail('socket') ? -1 : 9),
    fcntl: (...args) => (calls.push({ name: 'fcntl', args }), 0),
    ioctl: (fd, request, arg) => {
      calls.push({ name: 'ioctl', args: [fd, request, Buffer.from(arg)] });
      if (fail('ioctl')) return -1;
      arg.writeUInt32LE(0x5a5a, 0);
      return 0;
    },
    connect: (fd, address, length) => {
      calls.push({ name: 'connect', args: [fd, Buffer.from(address), length] });
      return fail('connect') ? -1 : 0;
    },
    getsockopt: (fd, level, name, value, length) => {
      calls.push({ name: 'getsockopt', args: [fd, level, name, value.length, length.readUInt32LE(0)] });
      value.write('utun4\0', 'latin1');
      length.writeUInt32LE(6, 0);
      return 0;
    },
    close: (...args) => (calls.push({ name: 'close', args }), 0),
    errno: () => options.errno ?? koffi.os.errno.EBUSY ?? 16,
  };
  return { libc, calls };
}

test('openUtun: control socket, CTLIOCGINFO, connect on sockaddr_ctl, UTUN_OPT_IFNAME', () => {
  const { libc, calls } = fakeLibc();
  const utun = openUtun({ libc });
  assert.equal(utun.name, 'utun4');
  assert.equal(utun.fd, 9);
  assert.deepEqual(
    calls.map((c) => c.name),
    ['socket', 'fcntl', 'ioctl', 'connect', 'getsockopt'],
  );
  assert.deepEqual(calls[0]?.args, [PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL]);
  assert.deepEqual(calls[2]?.args, [9, 0xc0644e03, encodeCtlInfo(UTUN_CONTROL_NAME)]);
  assert.deepEqual(calls[3]?.args, [9, encodeSockaddrCtl(0x5a5a, 0), 32]);
  assert.deepEqual(calls[4]?.args, [9, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, 16, 16]);
  utun.close();
  utun.close();
  assert.deepEqual(
    calls.filter((c) => c.name === 'close').map((c) => c.args),
    [[9]],
  );
});

test('openUtun asks for utunN with unit N+1', () => {
  const { libc, calls } = fakeLibc();
  openUtun({ libc, unit: 3 });
  assert.deepEqual(calls.find((c) => c.name === 'connect')?.args[1], encodeSockaddrCtl(0x5a5a, 4));
});

test('a failing call is named, and the socket is closed', () => {
  for (const failAt of ['ioctl', 'connect']) {
    const { libc, calls } = fakeLibc({ failAt });
    assert.throws(() => openUtun({ libc }), {
      code: 'HELPER_ERROR',
      message: new RegExp(`${failAt}.*failed \\(EBUSY\\)`),
    });
    assert.deepEqual(calls.at(-1), { name: 'close', args: [9] });
  }
  const { libc, calls } = fakeLibc({ failAt: 'socket' });
  assert.throws(() => openUtun({ libc }), { code: 'HELPER_ERROR', message: /socket\(PF_SYSTEM/ });
  assert.equal(
    calls.some((c) => c.name === 'close'),
    false,
  );
});

test('address aliases: point-to-point /32 on the utun, /32 alias on lo0', () => {
  assert.deepEqual(addAddressCommand('utun5', '10.107.0.5'), [
    '/sbin/ifconfig',
    'utun5',
    'inet',
    '10.107.0.5',
    '10.107.0.5',
    'netmask',
    '255.255.255.255',
    'alias',
  ]);
  assert.deepEqual(addAddressCommand('lo0', '127.107.0.5'), [
    '/sbin/ifconfig',
    'lo0',
    'alias',
    '127.107.0.5',
    'netmask',
    '255.255.255.255',
    'up',
  ]);
  assert.deepEqual(removeAddressCommand('utun5', '10.107.0.5'), [
    '/sbin/ifconfig',
    'utun5',
    'inet',
    '10.107.0.5',
    '-alias',
  ]);
  assert.deepEqual(removeAddressCommand('lo0', '127.107.0.5'), [
    '/sbin/ifconfig',
    'lo0',
    'inet',
    '127.107.0.5',
    '-alias',
  ]);
});

test('the subnet route and the DNS cache flush', () => {
  assert.deepEqual(addRouteCommand('utun5', '10.107.0.0/16'), [
    '/sbin/route',
    '-n',
    'add',
    '-net',
    '10.107.0.0/16',
    '-interface',
    'utun5',
  ]);
  assert.deepEqual(deleteRouteCommand('utun5', '10.107.0.0/16'), [
    '/sbin/route',
    '-n',
    'delete',
    '-net',
    '10.107.0.0/16',
    '-interface',
    'utun5',
  ]);
  assert.deepEqual(flushDnsCommands(), [
    ['/usr/bin/dscacheutil', '-flushcache'],
    ['/usr/bin/killall', '-HUP', 'mDNSResponder'],
  ]);
});

test('hostile input is rejected before any argv is built', () => {
  for (const ip of ['10.107.0.5 ', '10.107.0.5;reboot', '-alias', '10.107.0.05', '10.107.0.5\n', '::1', '']) {
    assert.throws(() => addAddressCommand('utun5', ip), {
      code: 'SUBNET_INVALID',
      message: /is not a valid IPv4/,
    });
    assert.throws(() => removeAddressCommand('lo0', ip), { code: 'SUBNET_INVALID' });
  }
  for (const name of ['utun5;reboot', 'utun5 ', '', 'utun5\n', 'utun5/../en0']) {
    assert.throws(() => addAddressCommand(name, '10.107.0.5'), { code: 'CONFIG_INVALID' });
    assert.throws(() => addRouteCommand(name, '10.107.0.0/16'), { code: 'CONFIG_INVALID' });
  }
  // Valid names, but not interfaces the helper may touch.
  for (const name of ['en0', 'bridge0', 'utun', '-alias', 'lo0.1']) {
    assert.throws(() => addAddressCommand(name, '10.107.0.5'), {
      code: 'HELPER_ERROR',
      message: new RegExp(`"${name}" is not the helper's utun or lo0`),
    });
  }
  for (const subnet of [
    '10.107.0.0/16;reboot',
    '10.107.0.1/16',
    '10.107.0.0',
    '0.0.0.0/0',
    '10.107.0.0/16 ',
  ]) {
    assert.throws(() => addRouteCommand('utun5', subnet), { code: 'SUBNET_INVALID' });
    assert.throws(() => deleteRouteCommand('utun5', subnet), { code: 'SUBNET_INVALID' });
  }
});
