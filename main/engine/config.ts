/**
 * The daemon configuration: one schema that validates, fills defaults and generates the README's
 * reference table (test/main/engine/config.test.ts checks the README is current). It accepts the keys of
 * upstream ngrokd's config.yml so an existing file works unchanged.
 */
import { readFileSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { errorCode, NgrokdError } from '../common/errors.ts';
import { interfaceNameText, loopbackAddressText, privateSubnetText, subnetText } from '../common/schemas.ts';
import type { KeepaliveTimers } from '../system/tcp-keepalive.ts';
import { EARLY_DATA_MODES, type EarlyDataMode } from './binding/early-data.ts';
import { DEFAULT_WARM_MAX } from './binding/warm-pool.ts';
import { DEFAULT_BUDGET } from './api/budget.ts';
import { DEFAULT_INSPECT } from './inspector/store.ts';

import {
  DEFAULT_API_URL,
  DEFAULT_INGRESS,
  DEFAULT_INTERFACE,
  DEFAULT_SUBNET,
  DEFAULT_TRUST_DIR,
  DEFAULT_USER_SUBNET,
} from '../common/defaults.ts';

/** The client-side API budget (api/budget.ts): half of ngrok's account-wide 120 per minute. */
const DEFAULT_API_REQUESTS_PER_MINUTE = DEFAULT_BUDGET.perMinute;

/** DEFAULT_KEEPALIVE as the config states it: 15 s idle, 3 probes 5 s apart. */
const DEFAULT_KEEPALIVE_SECONDS = 15;

function cidr(schema: typeof subnetText, description: string, fallback: string) {
  return schema.default(fallback).describe(description);
}

export const configSchema = z
  .object({
    api: z
      .object({
        url: z
          .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://api.ngrok.com' })
          .default(DEFAULT_API_URL)
          .describe('ngrok API base URL.'),
        key: z
          .string()
          .min(1)
          .optional()
          .describe(
            'ngrok API key. Prefer the `NGROK_API_KEY` environment variable; the desktop app keeps it in the OS keychain.',
          ),
        requests_per_minute: z
          .number()
          .min(1)
          .max(6000)
          .default(DEFAULT_API_REQUESTS_PER_MINUTE)
          .describe(
            'Most ngrok API requests this daemon sends per minute (a third of it may go at once); more wait their turn. ngrok allows 120 per minute for the whole account, shared with everything else it runs: keep this well below that, lower with several daemons on one account.',
          ),
      })
      .strict()
      .default({ url: DEFAULT_API_URL, requests_per_minute: DEFAULT_API_REQUESTS_PER_MINUTE }),
    ingressEndpoint: z
      .string()
      .regex(/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, 'must be host or host:port')
      .optional()
      .describe(
        `Binding ingress \`host[:port]\`. Wins over the one the API returns; default ${DEFAULT_INGRESS}.`,
      ),
    ingressCA: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file with extra CA certificates trusted for the ingress (added to system roots and /etc/ssl/certs/ngrok/).',
      ),
    server: z
      .object({
        log_level: z
          .enum(['debug', 'info', 'warn', 'error', 'silent'])
          .default('warn')
          .describe('Log level; logs are JSON lines on stderr.'),
        socket_path: z
          .string()
          .min(1)
          .optional()
          .describe('Control socket path (mode 0600). Default: see below.'),
        state_dir: z
          .string()
          .min(1)
          .optional()
          .describe(
            'Directory for the operator id, client key/certificate and ip_mappings.json (mode 0700).',
          ),
        client_cert: z
          .string()
          .optional()
          .describe('Accepted for upstream compatibility; ignored (the certificate lives in state_dir).'),
        client_key: z
          .string()
          .optional()
          .describe('Accepted for upstream compatibility; ignored (the key lives in state_dir).'),
        metrics_address: loopbackAddressText
          .optional()
          .describe(
            'Serve Prometheus metrics at http://ADDRESS/metrics, e.g. `127.0.0.1:9107` (loopback only; port 0 picks a free one, printed at start). Off when unset.',
          ),
      })
      .strict()
      .default({ log_level: 'warn' }),
    bound_endpoints: z
      .object({
        poll_interval: z
          .number()
          .min(0.05)
          .max(86_400)
          .default(30)
          .describe(
            'Seconds between discovery polls (fractions allowed). Mind the account-wide 120 requests/min API budget.',
          ),
        selectors: z
          .array(z.string().min(1))
          .min(1)
          .default(['true'])
          .describe('CEL endpoint selectors sent with the registration; evaluated by ngrok.'),
      })
      .strict()
      .default({ poll_interval: 30, selectors: ['true'] }),
    net: z
      .object({
        interface_name: interfaceNameText
          .default(DEFAULT_INTERFACE)
          .describe('Virtual interface name; a non-default name also suffixes the hosts section markers.'),
        subnet: cidr(
          privateSubnetText,
          'IPv4 subnet endpoint addresses are allocated from (network, .1 and broadcast reserved); must lie inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10.',
          DEFAULT_SUBNET,
        ),
        user_subnet: cidr(
          subnetText,
          'Loopback subnet used in user mode (no root): every 127/8 address is local on Linux.',
          DEFAULT_USER_SUBNET,
        ),
        listen_interface: z
          .literal('virtual')
          .default('virtual')
          .describe('Accepted for upstream compatibility; only `virtual` is supported.'),
        start_port: z.number().int().optional().describe('Accepted for upstream compatibility; ignored.'),
      })
      .strict()
      .default({
        interface_name: DEFAULT_INTERFACE,
        subnet: DEFAULT_SUBNET,
        user_subnet: DEFAULT_USER_SUBNET,
        listen_interface: 'virtual',
      }),
    connections: z
      .object({
        keepalive: z
          .number()
          .min(1)
          .max(3600)
          .default(DEFAULT_KEEPALIVE_SECONDS)
          .describe(
            'Seconds of silence before TCP keepalive probes on connections to the ingress (3 probes, a third of this apart): a dead path (sleep, another Wi-Fi, a lost VPN) is noticed after twice this.',
          ),
        idle_timeout: z
          .number()
          .min(0)
          .max(604_800)
          .default(0)
          .describe(
            'Close a forwarded connection after this many seconds with no bytes either way; 0 never does (long-lived database connections exist).',
          ),
        idle_timeout_by_host: z
          .record(z.string().min(1), z.number().min(0).max(604_800))
          .default({})
          .describe(
            'Per-endpoint `idle_timeout` by hostname (e.g. `{ "web.prod": 300 }`); wins over `idle_timeout`.',
          ),
        early_data: z
          .enum(EARLY_DATA_MODES as [EarlyDataMode, ...EarlyDataMode[]])
          .default('auto')
          .describe(
            "Send a client's first bytes right behind the connection request instead of a round trip later: `auto` once a probe (an `OPTIONS *` to an http endpoint in use, checked again hourly) showed the ingress keeps them, `on` always, `off` never.",
          ),
        warm_max: z
          .number()
          .int()
          .min(0)
          .max(64)
          .default(DEFAULT_WARM_MAX)
          .describe(
            'Most ingress connections kept ready (TLS done) for bursts of new connections; the pool follows the most dials seen at once and shrinks to one when idle. 0 keeps none.',
          ),
      })
      .strict()
      .default({
        keepalive: DEFAULT_KEEPALIVE_SECONDS,
        idle_timeout: 0,
        idle_timeout_by_host: {},
        early_data: 'auto',
        warm_max: DEFAULT_WARM_MAX,
      }),
    inspect: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'Keep the recent HTTP requests of http endpoints in memory (method, path, status, timing, redacted headers) for `ngrokd requests` and the window; false records nothing.',
          ),
        bodies: z
          .boolean()
          .default(false)
          .describe(
            'Also keep request and response bodies (up to `max_body_bytes` each), in memory only; needed for `ngrokd replay`.',
          ),
        max_body_bytes: z
          .number()
          .int()
          .min(1024)
          .max(16 * 1024 * 1024)
          .default(DEFAULT_INSPECT.maxBodyBytes)
          .describe('Bytes of each body kept when `bodies` is on; longer ones are kept truncated.'),
        per_endpoint: z
          .number()
          .int()
          .min(1)
          .max(100_000)
          .default(DEFAULT_INSPECT.perEndpoint)
          .describe('Requests kept per endpoint; older ones are dropped.'),
        max_requests: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(DEFAULT_INSPECT.maxRecords)
          .describe('Requests kept for all endpoints together.'),
        redact_headers: z
          .array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'))
          .default([])
          .describe(
            'Headers whose values are replaced by `[redacted]`, besides Authorization, Proxy-Authorization, Cookie and Set-Cookie (always).',
          ),
      })
      .strict()
      .default({
        enabled: true,
        bodies: false,
        max_body_bytes: DEFAULT_INSPECT.maxBodyBytes,
        per_endpoint: DEFAULT_INSPECT.perEndpoint,
        max_requests: DEFAULT_INSPECT.maxRecords,
        redact_headers: [],
      }),
  })
  .strict();

/** Keepalive timers for `connections.keepalive` seconds: idle, then 3 probes a third of it apart. */
export function keepaliveTimers(seconds: number): KeepaliveTimers {
  const idleMs = seconds * 1000;
  return { idleMs, intervalMs: Math.max(1000, Math.round(idleMs / 3)), count: 3 };
}

/** The idle timeout for connections to `hostname`, ms; 0 for none. */
export function idleTimeoutMs(config: Config, hostname: string): number {
  const seconds = config.connections.idle_timeout_by_host[hostname] ?? config.connections.idle_timeout;
  return seconds * 1000;
}

export type Config = z.infer<typeof configSchema> & {
  /**
   * Whether net.subnet was given (set by validateConfig). When it was not, a root daemon whose
   * default overlaps a network of this machine at its first start picks a free one (engine.ts).
   */
  subnetExplicit: boolean;
};

/** Settings the daemon derives from the config, the environment and the platform. */
export interface ResolvedConfig extends Config {
  apiKey: string | undefined;
  stateDir: string;
  socketPath: string;
  /** NGROKD_HOSTS_PATH, when set. */
  hostsPath: string | undefined;
  /** Directory of extra ingress CA PEMs (NGROKD_TRUST_DIR overrides /etc/ssl/certs/ngrok). */
  trustDir: string;
}

function configError(message: string): NgrokdError {
  return new NgrokdError(
    'CONFIG_INVALID',
    message,
    'Fix the configuration file; see "Configuration" in README.md.',
  );
}

function describeIssues(error: z.ZodError, source: string): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
        return `unknown key ${issue.keys.map((k) => `"${prefix}${k}"`).join(', ')}`;
      }
      const key = issue.path.join('.') || '(top level)';
      return `key "${key}": ${issue.message}`;
    })
    .map((line) => `${source}: ${line}`)
    .join('\n');
}

/** Validate an already parsed object (YAML document, settings store, tests). */
export function validateConfig(input: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) throw configError(describeIssues(result.error, source));
  // The schema accepted it, so `net`, when present, is an object.
  const net = (input as { net?: { subnet?: unknown } } | null | undefined)?.net;
  return { ...result.data, subnetExplicit: net?.subnet !== undefined };
}

/** Parse YAML text. Syntax errors name the line. */
export function parseConfigText(text: string, source = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw configError(`${source}: YAML error: ${first?.message.split('\n')[0] ?? 'unknown'}`);
  }
  return validateConfig(doc.toJS(), source);
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw configError(`cannot read config file ${path}: ${errorCode(err) ?? String(err)}`);
  }
  return parseConfigText(text, path);
}

export interface Environment {
  env: NodeJS.ProcessEnv;
  isRoot: boolean;
  home: string;
  platform: NodeJS.Platform;
}

export function currentEnvironment(): Environment {
  return {
    env: process.env,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    home: homedir(),
    platform: platform(),
  };
}

export function defaultStateDir(e: Environment): string {
  if (e.isRoot) return e.platform === 'darwin' ? '/Library/Application Support/ngrokd' : '/var/lib/ngrokd';
  if (e.platform === 'darwin') return join(e.home, 'Library', 'Application Support', 'ngrokd');
  return join(e.env.XDG_STATE_HOME || join(e.home, '.local', 'state'), 'ngrokd');
}

export function defaultSocketPath(e: Environment, stateDir: string): string {
  if (e.isRoot) return e.platform === 'darwin' ? '/var/run/ngrokd.sock' : '/run/ngrokd.sock';
  if (e.platform === 'linux' && e.env.XDG_RUNTIME_DIR) return join(e.env.XDG_RUNTIME_DIR, 'ngrokd.sock');
  return join(stateDir, 'ngrokd.sock');
}

export function resolveConfig(config: Config, e: Environment = currentEnvironment()): ResolvedConfig {
  const stateDir = config.server.state_dir ?? defaultStateDir(e);
  return {
    ...config,
    apiKey: config.api.key ?? (e.env.NGROK_API_KEY || undefined),
    stateDir,
    socketPath: config.server.socket_path ?? defaultSocketPath(e, stateDir),
    hostsPath: e.env.NGROKD_HOSTS_PATH || undefined,
    trustDir: e.env.NGROKD_TRUST_DIR || DEFAULT_TRUST_DIR,
  };
}

interface JsonSchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchemaNode>;
}

/** The README's configuration table, generated from the schema (one source of truth). */
export function configReference(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const rows: string[] = ['| key | type | default | description |', '| --- | --- | --- | --- |'];
  const walk = (node: JsonSchemaNode, prefix: string): void => {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const key = `${prefix}${name}`;
      if (child.type === 'object' && child.properties !== undefined) {
        walk(child, `${key}.`);
        continue;
      }
      const type =
        child.enum !== undefined
          ? child.enum.map((v) => `\`${String(v)}\``).join(' \\| ')
          : child.const !== undefined
            ? `\`${String(child.const)}\``
            : (child.type ?? 'any');
      const fallback = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
      rows.push(`| \`${key}\` | ${type} | ${fallback} | ${child.description ?? ''} |`);
    }
  };
  walk(root, '');
  return rows.join('\n');
}
