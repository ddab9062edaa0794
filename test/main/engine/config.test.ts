import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NgrokdError } from '../../../main/common/errors.ts';
import {
  configReference,
  idleTimeoutMs,
  keepaliveTimers,
  parseConfigText,
  resolveConfig,
  validateConfig,
} from '../../../main/engine/config.ts';

function configError(text: string): string {
  try {
    parseConfigText(text, 'cfg.yml');
  } catch (err) {
    assert.ok(err instanceof NgrokdError, `expected NgrokdError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.message;
  }
  assert.fail(`config was accepted: ${text}`);
}

test('defaults fill an empty config', () => {
  const c = validateConfig({});
  assert.equal(c.api.url, 'https://api.ngrok.com');
  assert.equal(c.net.subnet, '10.107.0.0/16');
  assert.equal(c.net.interface_name, 'ngrokd0');
  assert.equal(c.bound_endpoints.poll_interval, 30);
  assert.deepEqual(c.bound_endpoints.selectors, ['true']);
  assert.equal(c.server.log_level, 'warn');
});

test("upstream ngrokd's config.yml is accepted unchanged", () => {
  const c = parseConfigText(
    `
api:
  url: https://api.ngrok.com
  key: ""
ingressEndpoint: "kubernetes-binding-ingress.ngrok.io:443"
server:
  log_level: info
  socket_path: /var/run/ngrokd.sock
  client_cert: /etc/ngrokd/tls.crt
  client_key: /etc/ngrokd/tls.key
bound_endpoints:
  poll_interval: 30
  selectors: ['true']
net:
  interface_name: ngrokd0
  subnet: 10.107.0.0/16
  listen_interface: virtual
  start_port: 9080
`.replace('key: ""', 'key: "k"'),
  );
  assert.equal(c.server.socket_path, '/var/run/ngrokd.sock');
  assert.equal(c.ingressEndpoint, 'kubernetes-binding-ingress.ngrok.io:443');
});

test('poll_interval accepts fractions of a second', () => {
  assert.equal(
    parseConfigText('bound_endpoints:\n  poll_interval: 0.25\n').bound_endpoints.poll_interval,
    0.25,
  );
});

test('an unknown key is named in the error', () => {
  assert.match(configError('net:\n  subnett: 10.0.0.0/16\n'), /unknown key "net\.subnett"/);
  assert.match(configError('apii: {}\n'), /unknown key "apii"/);
});

test('bad values name the key and what is allowed', () => {
  assert.match(configError('net:\n  subnet: 10.107.0.0/33\n'), /key "net\.subnet".*10\.107\.0\.0\/33/);
  assert.match(configError('net:\n  subnet: 300.1.0.0/16\n'), /key "net\.subnet".*300\.1\.0\.0\/16/);
  assert.match(configError('net:\n  subnet: fd00::/64\n'), /key "net\.subnet".*IPv6|key "net\.subnet"/);
  assert.match(
    configError('net:\n  interface_name: way-too-long-name0\n'),
    /key "net\.interface_name".*1-15/,
  );
  assert.match(
    configError('bound_endpoints:\n  poll_interval: -1\n'),
    /key "bound_endpoints\.poll_interval"/,
  );
  assert.match(
    configError('bound_endpoints:\n  poll_interval: "30"\n'),
    /key "bound_endpoints\.poll_interval"/,
  );
  assert.match(configError('server:\n  log_level: chatty\n'), /key "server\.log_level"/);
  assert.match(configError('api:\n  url: ftp://x\n'), /key "api\.url"/);
  assert.match(configError('net:\n  listen_interface: all\n'), /key "net\.listen_interface"/);
  assert.match(configError('a: [\n'), /YAML error/);
  assert.match(configError('net: 5\n'), /key "net"/);
});

test('environment: NGROK_API_KEY, NGROKD_HOSTS_PATH and state/socket defaults', () => {
  const env = { NGROK_API_KEY: 'sekret', NGROKD_HOSTS_PATH: '/tmp/hosts', XDG_RUNTIME_DIR: '/run/user/1000' };
  const user = resolveConfig(validateConfig({}), { env, isRoot: false, home: '/home/u', platform: 'linux' });
  assert.equal(user.apiKey, 'sekret');
  assert.equal(user.hostsPath, '/tmp/hosts');
  assert.equal(user.stateDir, '/home/u/.local/state/ngrokd');
  assert.equal(user.socketPath, '/run/user/1000/ngrokd.sock');
  const root = resolveConfig(validateConfig({ api: { key: 'file-key' } }), {
    env: {},
    isRoot: true,
    home: '/root',
    platform: 'linux',
  });
  assert.equal(root.apiKey, 'file-key');
  assert.equal(root.stateDir, '/var/lib/ngrokd');
  assert.equal(root.socketPath, '/run/ngrokd.sock');
  assert.equal(root.hostsPath, undefined);
});

test('fuzz: random documents either load or fail with CONFIG_INVALID, never anything else', () => {
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const atoms = [
    'api',
    'url',
    'key',
    'net',
    'subnet',
    'server',
    'bound_endpoints',
    'poll_interval',
    'selectors',
    ':',
    ' ',
    '\n',
    '  ',
    '- ',
    '"',
    "'",
    '[',
    ']',
    '{',
    '}',
    '10.107.0.0/16',
    '-3',
    '0.5',
    'true',
    'null',
    '&a',
    '*a',
    '!!binary',
    '#',
    '\t',
    '\u0000',
    'ñ',
  ];
  for (let i = 0; i < 3000; i++) {
    const parts: string[] = [];
    const n = 1 + rand(24);
    for (let j = 0; j < n; j++) parts.push(atoms[rand(atoms.length)] as string);
    const text = parts.join('');
    try {
      parseConfigText(text);
    } catch (err) {
      assert.ok(
        err instanceof NgrokdError && err.code === 'CONFIG_INVALID',
        `input ${JSON.stringify(text)} threw ${String(err)}`,
      );
    }
  }
});

test("README's configuration table is generated from the schema and current", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  assert.ok(
    readme.includes(configReference()),
    'README.md config table is stale: run `npm run docs:config` and paste it',
  );
});

test('whether net.subnet was given is kept: only a default subnet may be replaced by a free one', () => {
  assert.equal(validateConfig({}).subnetExplicit, false);
  assert.equal(parseConfigText('net:\n  interface_name: ngrokd0\n').subnetExplicit, false);
  // Given, even as the default value: the user chose it.
  assert.equal(parseConfigText('net:\n  subnet: 10.107.0.0/16\n').subnetExplicit, true);
  const resolved = resolveConfig(validateConfig({ net: { subnet: '10.50.0.0/16' } }));
  assert.equal(resolved.subnetExplicit, true);
  assert.equal(resolved.net.subnet, '10.50.0.0/16');
});

test('connections: keepalive timers, and an idle timeout that is off unless set, per host first', () => {
  const defaults = validateConfig({});
  assert.deepEqual(keepaliveTimers(defaults.connections.keepalive), {
    idleMs: 15_000,
    intervalMs: 5_000,
    count: 3,
  });
  assert.equal(idleTimeoutMs(defaults, 'db.prod'), 0);
  const set = validateConfig({
    connections: { idle_timeout: 600, idle_timeout_by_host: { 'web.prod': 30 } },
  });
  assert.equal(idleTimeoutMs(set, 'web.prod'), 30_000);
  assert.equal(idleTimeoutMs(set, 'db.prod'), 600_000);
  assert.match(configError('connections:\n  keepalive: 0\n'), /connections\.keepalive/);
  assert.match(
    configError('connections:\n  idle_timeout_by_host:\n    web.prod: -1\n'),
    /idle_timeout_by_host/,
  );
});
