/**
 * The one typed contract between the engine and everything that shows it: the CLI (`status`,
 * `list`), the control socket, the desktop app's IPC bridge and the browser UI bridge all derive
 * from these maps. A new command is one entry in `commands`; a new pushed event one entry in `events`.
 */
import { z } from 'zod';
import type { UserFacingError } from './errors.ts';
import type { InterfaceKind, PrivilegeMode } from './privileged.ts';
import type { Proto } from './endpoint-url.ts';
import { interfaceNameText, privateSubnetText } from './schemas.ts';

export const CONTROL_PROTOCOL_VERSION = 1;

export interface EndpointView {
  /** First endpoint id of the group (pooled endpoints share one URL). */
  id: string;
  ids: string[];
  url: string;
  proto: Proto;
  hostname: string;
  ip: string;
  /** Port of the endpoint (sent on the wire). */
  port: number;
  /** Port actually listened on locally (differs from `port` only when user mode mapped a privileged port). */
  listen_port: number;
  listening: boolean;
  /** False when turned off by the user (`ngrokd disable HOST`): no listener, no hosts line, IP kept. */
  enabled: boolean;
  /** Pinned to the top of the list and the tray menu (`ngrokd pin HOST`). */
  pinned: boolean;
  bytes_in: number;
  bytes_out: number;
  /** Active connections. */
  connections: number;
  connections_total: number;
  errors: number;
  last_error: UserFacingError | null;
  /** Median time from accept to ConnResponse over recent connections, ms. */
  upgrade_ms_p50: number | null;
  /** RFC 3339 time of the last connection the ingress accepted, or null before the first. */
  last_ok_at: string | null;
  /**
   * Code of the last failure, kept after later successes (unlike `last_error`): the ngrok code of a
   * refused ConnResponse (ERR_NGROK_…), or ngrokd's own code when ngrok gave none (INGRESS_RESET…).
   */
  last_ingress_error: string | null;
}

/**
 * What the engine is doing, derived in one place (main/engine/status-view.ts) and shown as is by the
 * CLI, the tray and the UI:
 *  - `needs_key`: not registered, and there is no API key or ngrok rejected it;
 *  - `off`: turned off (no listener, no hosts section);
 *  - `degraded`: on, with a current problem or an endpoint that is not listening;
 *  - `starting`: on, not registered yet, nothing wrong so far;
 *  - `running`: on, registered, every endpoint listening.
 */
export type EngineState = 'needs_key' | 'starting' | 'running' | 'degraded' | 'off';

export interface StatusView {
  version: string;
  state: EngineState;
  /** The On/Off switch as last set (`state` says what came of it). */
  enabled: boolean;
  registered: boolean;
  operator_id: string | null;
  ingress_endpoint: string;
  mode: PrivilegeMode;
  interface: { name: string; kind: InterfaceKind; subnet: string };
  /** Present when the subnet in use was picked because the default overlapped a network here. */
  subnet_picked?: SubnetChoice;
  endpoint_count: number;
  hosts_path: string | null;
  cert_not_after: string | null;
  last_poll_at: string | null;
  last_error: UserFacingError | null;
  /** Every current problem, most recent first (api, ingress, hosts, listeners). */
  errors: UserFacingError[];
  /**
   * What to know or fix before it becomes an error, most recent first (a failed certificate renewal
   * with the time left; polls held back by the API budget). They never make the state worse.
   */
  warnings: UserFacingError[];
  totals: { bytes_in: number; bytes_out: number; connections: number };
}

/**
 * A subnet a root daemon picked at its first start: net.subnet was not set, no addresses were mapped
 * yet, and the default overlapped a network of this machine. Kept in the state directory, so the
 * subnet and every address stay the same on later starts, whatever the network does.
 */
export interface SubnetChoice {
  /** The subnet picked, e.g. 10.108.0.0/16. */
  subnet: string;
  /** The default it replaces, e.g. 10.107.0.0/16. */
  instead_of: string;
  /** What overlapped the default then, as the SUBNET_CONFLICT message said it. */
  reason: string;
  /** RFC 3339 time of the pick. */
  at: string;
  /** The file that keeps it (delete it, or set net.subnet, to choose again). */
  saved_in: string;
}

export interface StateSnapshot {
  status: StatusView;
  endpoints: EndpointView[];
}

/**
 * One HTTP/1.x request seen on an http endpoint, as the request inspector keeps it
 * (main/engine/inspector/). A connection that switched protocols (WebSocket: a 101) is one record,
 * timed to its 101; HTTP/2 prior knowledge (`h2c`) is one record for the whole connection.
 */
export interface RequestRecord {
  /** Unique in this daemon's run, increasing: `replay ID`, `requests --after ID`. */
  id: number;
  /** RFC 3339 time the request head arrived. */
  ts: string;
  /** The endpoint's hostname and URL. */
  endpoint: string;
  url: string;
  method: string;
  /** The request target as sent (a path with its query; never a label in metrics). */
  path: string;
  /** The answer's status, or null when none came (the connection ended first). */
  status: number | null;
  /** From the request head to the end of the answer (to the 101 for an upgrade), ms. */
  duration_ms: number | null;
  /** Bytes the client sent for this request (head and body, as framed on the wire). */
  bytes_out: number;
  /** Bytes of the answer (head and body). */
  bytes_in: number;
  /** Requests with the same connection id came on one local connection (keep-alive, pipelining). */
  connection_id: number;
  kind: 'http' | 'upgrade' | 'h2c';
  /**
   * Why the answer is not the server's: ngrokd answered (a refused upgrade: the ngrok or ngrokd
   * error code of the 502), or the connection ended without one (`NO_RESPONSE`).
   */
  error: string | null;
  /** The record of the request this one replayed, when it is a replay. */
  replay_of: number | null;
  /** Its body was captured whole (`inspect.bodies: true`), so it can be replayed. */
  replayable: boolean;
}

/** A captured message body (`inspect.bodies: true`), chunked framing removed. */
export interface CapturedBody {
  /** Bytes of the body seen (more than `base64` holds when truncated). */
  size: number;
  /** Longer than `inspect.max_body_bytes`: only the first part is kept. */
  truncated: boolean;
  base64: string;
}

/** A request with its headers (secrets redacted) and bodies when captured. */
export interface RequestDetail extends RequestRecord {
  http_version: string;
  /** Name/value pairs as sent; values of redacted headers are `[redacted]`. */
  request_headers: [string, string][];
  response_headers: [string, string][];
  /** Null when bodies are not captured. */
  request_body: CapturedBody | null;
  response_body: CapturedBody | null;
}

export const REDACTED = '[redacted]';

/** What the settings screen edits. The engine applies the first four; a desktop shell adds the rest. */
export interface Settings {
  poll_interval: number;
  selectors: string[];
  subnet: string;
  interface_name: string;
  launch_at_login: boolean;
  notifications: boolean;
  /** macOS menu bar: live traffic rates next to the tray icon (desktop only; absent in browser mode). */
  traffic_title?: boolean;
  /** True in the desktop app; false in browser mode, where the last two have no effect. */
  desktop: boolean;
  /** A changed subnet or interface name applies after a restart. */
  restart_required: boolean;
  /** The subnet actually in use now (user mode: the loopback one), which `subnet` may not be. */
  subnet_in_use: string;
  /** Extra CA certificates (PEM file) trusted for the ingress, null for none. */
  ingress_ca: string | null;
  /** What only the desktop app has (absent in browser mode). */
  desktop_info?: DesktopInfo;
}

/** The desktop app's own parts, shown in its settings. */
export interface DesktopInfo {
  helper: { installed: boolean; version: string | null; current: boolean };
  /** The command-line tool on the PATH (a link such as /usr/local/bin/ngrokd). */
  cli: { installed: boolean; path: string };
  updates: UpdateState;
}

export type UpdateStatus = 'idle' | 'checking' | 'available' | 'downloading' | 'ready' | 'error' | 'disabled';

export interface UpdateState {
  /** Checks are on (the `check_updates` setting), and not turned off by policy. */
  enabled: boolean;
  /** Turned off by policy (NGROKD_DISABLE_UPDATES or an MDM/system setting): the user cannot enable it. */
  managed: boolean;
  status: UpdateStatus;
  /** The version available, downloading or ready to install. */
  version: string | null;
  /** A sentence for the user (what failed, what is ready). */
  message: string | null;
  /** RFC 3339 time of the last check. */
  checked_at: string | null;
}

/** What the desktop app can do on the user's behalf; browser mode refuses them (DESKTOP_ONLY). */
export const DESKTOP_ACTIONS = [
  'install-helper',
  'uninstall-helper',
  'choose-ca-file',
  'install-cli',
  'uninstall-cli',
  'check-for-updates',
  'restart-to-update',
] as const;
export type DesktopAction = (typeof DESKTOP_ACTIONS)[number];

export interface DesktopActionResult {
  /** False when the user cancelled (a declined password prompt, a closed file dialog). */
  done: boolean;
  /** A sentence for the user about what happened. */
  message: string;
  settings: Settings;
}

export const settingsPatch = z
  .object({
    poll_interval: z.number().min(0.05).max(86_400).optional(),
    selectors: z.array(z.string().min(1).max(4096)).min(1).max(64).optional(),
    subnet: privateSubnetText.optional(),
    interface_name: interfaceNameText.optional(),
    launch_at_login: z.boolean().optional(),
    notifications: z.boolean().optional(),
    traffic_title: z.boolean().optional(),
    check_updates: z.boolean().optional(),
    ingress_ca: z.string().min(1).max(4096).nullable().optional(),
  })
  .strict();

export type SettingsPatch = z.infer<typeof settingsPatch>;

/** ngrok API keys are opaque tokens: letters, digits, `_` and `-`. */
export const apiKeyParam = z
  .string()
  .trim()
  .min(8, 'an ngrok API key is longer than that')
  .max(512)
  .regex(/^[A-Za-z0-9_-]+$/, 'an ngrok API key has only letters, digits, "_" and "-"');

export type DoctorStatus = 'pass' | 'warn' | 'fail';

/** One check of `doctor`: what was looked at, with the value found, and what to do when it is not a pass. */
export interface DoctorCheck {
  /** Stable, for scripts: config, api, registration, certificate, ingress, privilege, interface, … */
  id: string;
  status: DoctorStatus;
  message: string;
  /** What to do; null on a pass. */
  fix: string | null;
}

/** `doctor`'s report: the checks in order (the first failure is usually the cause of later ones). */
export interface DoctorReport {
  checks: DoctorCheck[];
}

/** Request params and results, one entry per command. */
export const commands = {
  hello: { params: z.object({}).strict(), result: {} as { protocol: number; version: string } },
  status: { params: z.object({}).strict(), result: {} as StatusView },
  list: { params: z.object({}).strict(), result: {} as EndpointView[] },
  setEnabled: { params: z.object({ enabled: z.boolean() }).strict(), result: {} as StatusView },
  logout: { params: z.object({}).strict(), result: {} as { deleted: boolean } },
  setApiKey: { params: z.object({ apiKey: apiKeyParam }).strict(), result: {} as StatusView },
  getSettings: { params: z.object({}).strict(), result: {} as Settings },
  updateSettings: { params: settingsPatch, result: {} as Settings },
  desktopAction: {
    params: z.object({ action: z.enum(DESKTOP_ACTIONS) }).strict(),
    result: {} as DesktopActionResult,
  },
  /**
   * Inspected requests, oldest first: those after `after` (an id), of one endpoint (hostname or
   * URL) when given, at most `limit` (the newest). With `wait_ms`, an empty answer waits up to that
   * long for the next one (a live view or `requests --follow` without polling).
   */
  requests: {
    params: z
      .object({
        endpoint: z.string().min(1).max(300).optional(),
        after: z.number().int().min(0).optional(),
        limit: z.number().int().min(1).max(100_000).optional(),
        wait_ms: z.number().int().min(0).max(30_000).optional(),
      })
      .strict(),
    result: {} as RequestRecord[],
  },
  /**
   * Turn one endpoint (every URL of a hostname) off or on, or pin it to the top; kept across
   * restarts. `host` is a hostname or an endpoint URL. Answers the endpoints as `list` does.
   */
  setEndpoint: {
    params: z
      .object({
        host: z.string().trim().min(1).max(300),
        enabled: z.boolean().optional(),
        pinned: z.boolean().optional(),
      })
      .strict()
      .refine((p) => p.enabled !== undefined || p.pinned !== undefined, 'say enabled or pinned'),
    result: {} as EndpointView[],
  },
  /** Ordered diagnostics of this machine's setup (`ngrokd doctor`, Help → Run diagnostics). */
  doctor: { params: z.object({}).strict(), result: {} as DoctorReport },
  /** One inspected request with headers and captured bodies. */
  request: {
    params: z.object({ id: z.number().int().min(1) }).strict(),
    result: {} as RequestDetail,
  },
  /** Send a captured request again (its body must have been captured); answers the new record. */
  replay: {
    params: z.object({ id: z.number().int().min(1) }).strict(),
    result: {} as RequestRecord,
  },
} as const;

export type CommandName = keyof typeof commands;
export type CommandParams<C extends CommandName> = z.infer<(typeof commands)[C]['params']>;
export type CommandResult<C extends CommandName> = (typeof commands)[C]['result'];

/**
 * What changed between two versions of the state (computed and applied in main/common/state-delta.ts).
 * Endpoints are keyed by `url`, which is unique in a snapshot.
 */
export interface StateDelta {
  /** The whole status, present only when it changed. */
  status?: StatusView;
  /** Endpoints that are new or changed in any field, whole. */
  endpoints?: EndpointView[];
  /** URLs of the endpoints that are gone. */
  removed?: string[];
  /**
   * Every URL in order, present only when endpoints were added or reordered (removals alone leave
   * the order of the others as it was).
   */
  order?: string[];
}

/**
 * The state as a stream of versions: a whole snapshot first (and whenever the subscriber fell
 * behind), then deltas, each against the version the subscriber has (`base`).
 */
export type StateUpdate =
  | { kind: 'snapshot'; version: number; data: StateSnapshot }
  | { kind: 'delta'; version: number; base: number; data: StateDelta };

/**
 * Events pushed to subscribers, one entry per event: the data it carries. Every transport serves
 * them through `subscribe` (the control socket's `{"method":"subscribe"}` then `{"event":…}` lines,
 * the browser UI's event stream, the desktop IPC push channel), fed by the engine's state feed.
 *  - `state`: the whole snapshot every time (the original event, kept for simple clients);
 *  - `stateUpdate`: a versioned snapshot, then deltas: a push costs what changed, not the whole state.
 */
export const events = {
  state: { data: {} as StateSnapshot },
  stateUpdate: { data: {} as StateUpdate },
} as const;

export type EventName = keyof typeof events;
export type EventData<E extends EventName> = (typeof events)[E]['data'];
export type EventMap = { [E in EventName]: EventData<E> };

/** The request that starts an event stream, beside the commands. */
export const SUBSCRIBE_METHOD = 'subscribe';
/** At most one event per this many ms unless the subscriber asks otherwise. */
export const DEFAULT_EVENT_INTERVAL_MS = 1000;

export const subscribeParams = z
  .object({
    event: z.enum(Object.keys(events) as [EventName, ...EventName[]]).optional(),
    intervalMs: z.number().int().min(100).max(60_000).optional(),
  })
  .strict();

export type SubscribeParams = z.infer<typeof subscribeParams>;

export type ControlRequest = { v: number; id: number; method: string; params?: unknown };
export type ControlResponse =
  | { v: number; id: number; result: unknown }
  | { v: number; id: number; error: UserFacingError }
  | { v: number; event: keyof EventMap; data: unknown };

/** The engine-side implementation every bridge calls. */
export type CommandHandlers = {
  [C in CommandName]: (params: CommandParams<C>) => Promise<CommandResult<C>> | CommandResult<C>;
};

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(commands, name);
}
