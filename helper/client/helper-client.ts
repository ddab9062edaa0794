/**
 * Privileged operations through the installed helper (mode 'helper'): the app runs unprivileged and
 * asks the root helper over its Unix socket. Listening sockets come back as file descriptors, so
 * the app listens on ports 80/443 without root and without any system-wide setting.
 *
 * The helper removes the hosts section and addresses when the app vanishes, and forgets everything
 * when it restarts; so this client remembers the last desired state and re-asserts all of it on
 * every reconnect, and watches an idle connection so a restarted helper is noticed within seconds.
 */
import { createServer } from 'node:net';
import { NgrokdError, type UserFacingError } from '../../main/common/errors.ts';
import type {
  HostsEntry,
  InterfaceInfo,
  InterfaceSpec,
  ListenSocket,
  PrivilegedOps,
} from '../../main/common/privileged.ts';
import {
  decodeResponse,
  decodeResult,
  defaultHelperSocketPath,
  encodeFrame,
  errorFromReply,
  FrameReader,
  HELPER_PROTOCOL_VERSION,
  type HelperMethod,
  type HelperParams,
  type HelperResponse,
  type HelperResult,
} from '../protocol.ts';
import { closeFd } from '../../main/system/fd-passing.ts';
import { POLLIN, SocketCallError } from '../../main/system/libc.ts';
import { UnixStreamClient } from '../../main/system/unix-stream-client.ts';
import type { StructuredLogger } from '../../main/common/logger.ts';

const INSTALL_FIX =
  'Install the helper with `npm run ngrokd -- helper install` (asks for your password once).';
const UPGRADE_FIX =
  'Upgrade the helper with `npm run ngrokd -- helper install` (asks for your password once).';

export interface HelperClientOptions {
  /** The app's release, sent in hello. */
  appVersion: string;
  socketPath?: string;
  /** Longest wait for one reply (10,000 addresses take well under a second). Default 60 s. */
  requestTimeoutMs?: number;
  /** How often an idle connection is checked, and a lost one retried. Default 2 s. */
  watchIntervalMs?: number;
  logger?: StructuredLogger;
}

/** What the helper said about itself in the hello handshake. */
export interface HelperInfo {
  version: string;
  protocol: number;
  hostsPath: string | null;
  /** False when the helper speaks another protocol version: the app should offer an upgrade. */
  compatible: boolean;
}

interface Connection {
  socket: UnixStreamClient;
  reader: FrameReader;
  /** Complete frames not consumed yet. */
  frames: Buffer[];
  /** Fds received and not yet claimed by a listen reply. */
  fds: number[];
}

/** The helper closed the connection (restart, crash, or a refusal of this user). */
class ConnectionLost extends Error {}

interface DesiredState {
  spec?: InterfaceSpec;
  ips?: readonly string[];
  entries?: readonly HostsEntry[];
}

export class HelperClientOps implements PrivilegedOps {
  readonly mode = 'helper' as const;
  readonly socketPath: string;
  readonly #appVersion: string;
  readonly #requestTimeoutMs: number;
  readonly #watchIntervalMs: number;
  readonly #log: StructuredLogger | undefined;
  #connection: Connection | null = null;
  #helper: HelperInfo | null = null;
  #desired: DesiredState = {};
  #queue: Promise<unknown> = Promise.resolve();
  #busy = 0;
  #nextId = 1;
  #watch: NodeJS.Timeout | undefined;
  /** The last reconnect failure logged, so a long outage logs once. */
  #lastReconnectError: string | null = null;
  /** An older helper answered checkNetwork with "unknown method". */
  #checkNetworkUnsupported = false;
  #closed = false;

  constructor(options: HelperClientOptions) {
    this.#appVersion = options.appVersion;
    this.socketPath = options.socketPath ?? defaultHelperSocketPath();
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#watchIntervalMs = options.watchIntervalMs ?? 2_000;
    this.#log = options.logger;
  }

  /** The helper's version etc. from the last handshake, or null before the first connection. */
  get helper(): HelperInfo | null {
    return this.#helper;
  }

  helperInfo(): { version: string; compatible: boolean } | null {
    return this.#helper === null
      ? null
      : { version: this.#helper.version, compatible: this.#helper.compatible };
  }

  /** The hosts file the helper manages, as it reported in the handshake. */
  get hostsPath(): string | null {
    return this.#helper?.hostsPath ?? null;
  }

  /** The helper uses the configured subnet as is. */
  effectiveSubnet(configured: string): string {
    return configured;
  }

  /**
   * Connect and handshake now (otherwise the first operation does it). Throws HELPER_MISSING when no
   * helper listens, HELPER_ERROR when it refuses this user or speaks another protocol (`helper` then
   * still tells its version).
   */
  async connect(): Promise<HelperInfo> {
    await this.#serial(() => this.#connected());
    return this.#helper as HelperInfo;
  }

  async ensureInterface(spec: InterfaceSpec): Promise<InterfaceInfo> {
    const info = (await this.#call('ensureInterface', { name: spec.name, subnet: spec.subnet })).result;
    this.#desired.spec = { name: spec.name, subnet: spec.subnet };
    return info;
  }

  /**
   * Asks the helper, which owns the interface. A helper from before checkNetwork existed refuses the
   * method: then nothing is reported (once logged), as before.
   */
  async checkNetwork(spec: InterfaceSpec): Promise<UserFacingError | null> {
    if (this.#checkNetworkUnsupported) return null;
    try {
      const { result } = await this.#call('checkNetwork', { name: spec.name, subnet: spec.subnet });
      return result.conflict === null ? null : { ...result.conflict, at: new Date().toISOString() };
    } catch (err) {
      const older =
        err instanceof NgrokdError && err.code === 'PROTOCOL_ERROR' && /unknown method/.test(err.message);
      if (!older) throw err;
      this.#checkNetworkUnsupported = true;
      this.#log?.warn(
        { socket: this.socketPath },
        'the helper is too old to check for subnet conflicts; upgrade it with `npm run ngrokd -- helper install`',
      );
      return null;
    }
  }

  async setAddresses(ips: readonly string[]): Promise<void> {
    await this.#call('setAddresses', { ips: [...ips] });
    this.#desired.ips = [...ips];
  }

  async setHosts(entries: readonly HostsEntry[]): Promise<{ changed: boolean }> {
    const plain = entries.map(({ ip, hostname }) => ({ ip, hostname }));
    const { result } = await this.#call('setHosts', { entries: plain });
    this.#desired.entries = plain;
    return result;
  }

  /** The helper binds ip:port as root and passes the listening socket back; we listen on that fd. */
  async listen(ip: string, port: number): Promise<ListenSocket> {
    const { result, fd } = await this.#call('listen', { ip, port });
    if (fd === null) {
      throw new NgrokdError(
        'HELPER_ERROR',
        `the helper at ${this.socketPath} answered listen on ${ip}:${port} without a socket`,
        UPGRADE_FIX,
      );
    }
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) =>
        reject(
          new NgrokdError(
            'LISTEN_FAILED',
            `could not listen on ${ip}:${port} through the socket the helper passed: ${err.message}`,
            'See the daemon log for details.',
            { cause: err },
          ),
        );
      server.once('error', onError);
      // From here Node owns the fd: it closes it with the server.
      server.listen({ fd }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return { server, port: result.port };
  }

  /** Remove the hosts section, the addresses and the interface; nothing is re-asserted afterwards. */
  async teardown(): Promise<void> {
    // No ensureInterface of ours ever succeeded (a start refused, say for a subnet conflict): the
    // helper holds nothing of ours, and refuses a teardown from a connection it is not serving.
    if (this.#desired.spec === undefined) return;
    this.#desired = {};
    await this.#call('teardown', {});
  }

  /** Disconnect (the helper cleans up after its grace period) and stop watching. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#watch);
    this.#drop();
  }

  // -------------------------------------------------------------------------------------------

  /** One request/response at a time: replies carry no routing beyond their id. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      this.#busy++;
      try {
        return await task();
      } finally {
        this.#busy--;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Send one request (reconnecting once if the helper went away) and return its result and fd. */
  async #call<M extends Exclude<HelperMethod, 'hello'>>(
    method: M,
    params: HelperParams<M>,
  ): Promise<{ result: HelperResult<M>; fd: number | null }> {
    return this.#serial(async () => {
      for (let attempt = 1; ; attempt++) {
        const connection = await this.#connected();
        try {
          return this.#unwrap(method, await this.#exchange(connection, method, params));
        } catch (err) {
          if (!(err instanceof ConnectionLost) || attempt >= 2) throw err;
          this.#log?.warn({ socket: this.socketPath, method }, 'helper connection lost; reconnecting');
        }
      }
    });
  }

  #unwrap<M extends HelperMethod>(
    method: M,
    reply: { response: HelperResponse; fd: number | null },
  ): { result: HelperResult<M>; fd: number | null } {
    const { response, fd } = reply;
    if (!response.ok) {
      if (fd !== null) closeFd(fd);
      throw errorFromReply(response.error);
    }
    try {
      return { result: decodeResult(method, response.result), fd };
    } catch (err) {
      if (fd !== null) closeFd(fd);
      throw err;
    }
  }

  /** The open, handshaken connection; on a new one, re-assert the whole desired state first. */
  async #connected(): Promise<Connection> {
    if (this.#connection !== null && !this.#connection.socket.closed) return this.#connection;
    if (this.#closed) {
      throw new NgrokdError('HELPER_ERROR', 'the helper client was closed', 'Restart the daemon.');
    }
    const connection = this.#open();
    this.#connection = connection;
    try {
      const hello = await this.#exchange(connection, 'hello', {
        version: this.#appVersion,
        protocol: HELPER_PROTOCOL_VERSION,
      }).catch((err: unknown) => {
        throw err instanceof ConnectionLost ? this.#refusedError() : err;
      });
      const info = this.#unwrap('hello', hello).result;
      this.#helper = {
        version: info.version,
        protocol: info.protocol,
        hostsPath: info.hostsPath ?? null,
        compatible: info.protocol === HELPER_PROTOCOL_VERSION,
      };
      if (!this.#helper.compatible) {
        throw new NgrokdError(
          'HELPER_ERROR',
          `the helper at ${this.socketPath} is version ${info.version} (protocol ${info.protocol}); this app (version ${this.#appVersion}) needs protocol ${HELPER_PROTOCOL_VERSION}`,
          UPGRADE_FIX,
        );
      }
      await this.#reassert(connection);
    } catch (err) {
      this.#drop();
      throw err;
    }
    this.#lastReconnectError = null;
    this.#startWatch();
    return connection;
  }

  /** Replay what should exist: the helper may have restarted or cleaned up after a grace period. */
  async #reassert(connection: Connection): Promise<void> {
    const { spec, ips, entries } = this.#desired;
    if (spec !== undefined)
      this.#unwrap('ensureInterface', await this.#exchange(connection, 'ensureInterface', spec));
    if (ips !== undefined)
      this.#unwrap('setAddresses', await this.#exchange(connection, 'setAddresses', { ips: [...ips] }));
    if (entries !== undefined)
      this.#unwrap('setHosts', await this.#exchange(connection, 'setHosts', { entries: [...entries] }));
    if (spec !== undefined) this.#log?.info({ socket: this.socketPath }, 'helper state re-asserted');
  }

  #open(): Connection {
    try {
      return {
        socket: UnixStreamClient.connect(this.socketPath),
        reader: new FrameReader(),
        frames: [],
        fds: [],
      };
    } catch (err) {
      const code =
        err instanceof SocketCallError || (err instanceof Error && 'code' in err)
          ? String((err as { code: unknown }).code)
          : '';
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        throw new NgrokdError(
          'HELPER_MISSING',
          `no privileged helper is listening on ${this.socketPath}`,
          INSTALL_FIX,
          { cause: err },
        );
      }
      throw new NgrokdError(
        'HELPER_ERROR',
        `cannot connect to the privileged helper at ${this.socketPath}: ${err instanceof Error ? err.message : String(err)}`,
        code === 'EACCES'
          ? `Check the permissions of ${this.socketPath}, or reinstall: ${INSTALL_FIX}`
          : INSTALL_FIX,
        { cause: err },
      );
    }
  }

  #refusedError(): NgrokdError {
    return new NgrokdError(
      'HELPER_ERROR',
      `the privileged helper at ${this.socketPath} closed the connection: it serves only root and the user who installed it (this process runs as uid ${process.getuid?.() ?? 'unknown'})`,
      'Run the app as the user who installed the helper, or reinstall the helper as this user: `npm run ngrokd -- helper install`.',
    );
  }

  /** Write one request and read its reply. Any failure here leaves the stream unusable: drop it. */
  async #exchange<M extends HelperMethod>(
    connection: Connection,
    method: M,
    params: HelperParams<M>,
  ): Promise<{ response: HelperResponse; fd: number | null }> {
    const id = this.#nextId++;
    const deadline = Date.now() + this.#requestTimeoutMs;
    try {
      await connection.socket.write(encodeFrame({ id, method, params }), this.#requestTimeoutMs);
      for (;;) {
        const frame = connection.frames.shift();
        if (frame !== undefined) {
          const response = decodeResponse(frame);
          if (response.id !== id) {
            throw new NgrokdError(
              'PROTOCOL_ERROR',
              `helper protocol: reply for request ${response.id} while waiting for ${id}`,
              UPGRADE_FIX,
            );
          }
          // The fd travels with the reply's first byte, so it has arrived by now.
          const fd = response.ok && method === 'listen' ? (connection.fds.shift() ?? null) : null;
          for (const stray of connection.fds.splice(0)) closeFd(stray);
          return { response, fd };
        }
        const received = connection.socket.read();
        if (received === null) {
          const left = deadline - Date.now();
          if (left <= 0 || !(await connection.socket.wait(POLLIN, left))) {
            throw new NgrokdError(
              'HELPER_ERROR',
              `the privileged helper at ${this.socketPath} did not answer ${method} within ${Math.round(this.#requestTimeoutMs / 1000)} s`,
              'Check the helper log (journalctl -u ngrokd-helper); restarting the helper is safe.',
            );
          }
          continue;
        }
        connection.fds.push(...received.fds);
        if (received.data.length === 0) throw new ConnectionLost();
        connection.frames.push(...connection.reader.push(received.data));
      }
    } catch (err) {
      this.#drop();
      if (err instanceof SocketCallError && ['EPIPE', 'ECONNRESET', 'ENOTCONN', 'EBADF'].includes(err.code)) {
        throw new ConnectionLost();
      }
      throw err;
    }
  }

  #drop(): void {
    const connection = this.#connection;
    if (connection === null) return;
    this.#connection = null;
    for (const fd of connection.fds.splice(0)) closeFd(fd);
    connection.socket.close();
  }

  /** Notice a lost helper while idle, and keep retrying (re-asserting) until it is back. */
  #startWatch(): void {
    if (this.#watch !== undefined || this.#closed) return;
    this.#watch = setInterval(() => this.#check(), this.#watchIntervalMs);
    this.#watch.unref();
  }

  #check(): void {
    if (this.#busy > 0 || this.#closed) return;
    const connection = this.#connection;
    if (connection !== null) {
      if (!connection.socket.peerGone()) return;
      this.#log?.warn({ socket: this.socketPath }, 'helper connection lost; reconnecting');
      this.#drop();
    }
    if (this.#desired.spec === undefined) return;
    this.#serial(() => this.#connected()).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== this.#lastReconnectError)
        this.#log?.warn({ err: message }, 'helper reconnect failed; retrying');
      this.#lastReconnectError = message;
    });
  }
}
