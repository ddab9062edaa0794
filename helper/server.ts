/**
 * The helper daemon's socket server. Each connection is authenticated by the kernel's peer
 * credentials (root or the one allowed user; everyone else is closed at once), then speaks the
 * framed protocol of ./protocol.ts one request at a time. One client controls the helper at a time:
 * a successful ensureInterface makes a connection the controller, and while that connection lives
 * every other one is refused with INTERFACE_IN_USE naming it (two daemons never take the state from
 * each other; a version probe that only says hello never disturbs the app). A controller that dies
 * closes its connection, so a restarted app takes over at once. When the controller vanishes
 * and none takes over within the grace period, the hosts section and addresses are removed (the
 * interface stays), so a crashed app never leaves names pointing nowhere; the app re-asserts the
 * whole state when it reconnects.
 */
import { lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { NgrokdError, toUserFacing } from '../main/common/errors.ts';
import type { StructuredLogger } from '../main/common/logger.ts';
import { DEFAULT_PUMP_LIMITS, RequestPump } from '../main/system/request-pump.ts';
import { listenUnix, socketInUse } from '../main/system/listen.ts';
import { isPeerAllowed, peerCredentials, type PeerCredentials } from '../main/system/peer-credentials.ts';
import { RefusalLog } from './refusal-log.ts';
import { resolveSafePath } from '../main/system/safe-path.ts';
import {
  decodeRequest,
  encodeFrame,
  FrameReader,
  HELPER_PROTOCOL_VERSION,
  type HelperRequest,
  type HelperResponse,
  MAX_FRAME_BYTES,
  PRE_HELLO_MAX_FRAME_BYTES,
} from './protocol.ts';
import { trustedOwners, type RootOps } from '../main/system/root-ops.ts';
import { closeFd, duplicateFd, handleFd, sendWithFd } from '../main/system/fd-passing.ts';
import { SocketCallError } from '../main/system/libc.ts';

export const DEFAULT_GRACE_PERIOD_MS = 10_000;
/** A connection that is not the controller and sends nothing for this long is closed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Connections one uid may hold at once (the app needs one, a status probe another). */
export const MAX_CONNECTIONS_PER_UID = 8;
/** Connections in all. */
export const MAX_CONNECTIONS = 32;
/** Every peer is checked by credentials, so the socket itself may be world-connectable. */
export const SOCKET_MODE = 0o666;
/** How long a reply carrying an fd may wait for a client that does not read. */
const FD_SEND_TIMEOUT_MS = 5_000;
const FD_SEND_RETRY_MS = 5;

export type ServedOps = Pick<
  RootOps,
  | 'hostsPath'
  | 'pinned'
  | 'ensureInterface'
  | 'setAddresses'
  | 'setHosts'
  | 'listen'
  | 'teardown'
  | 'checkNetwork'
>;

export interface HelperServerOptions {
  socketPath: string;
  /** The user the helper was installed for; root is always allowed. */
  allowedUid: number | null;
  ops: ServedOps;
  /** The helper's release, answered to hello so the app can offer an upgrade. */
  version: string;
  logger: StructuredLogger;
  gracePeriodMs?: number;
  idleTimeoutMs?: number;
}

interface Session {
  id: number;
  socket: Socket;
  peer: PeerCredentials;
  reader: FrameReader;
  /** Frames received and not yet answered, served one at a time with bounded replies. */
  pump: RequestPump<Buffer>;
  greeted: boolean;
  /** Set after a fatal framing error: nothing more is read from this peer. */
  hangingUp: boolean;
  /** Completes when the last reply is in the kernel: an fd reply must not overtake it. */
  lastWrite: Promise<void>;
}

type Reply = { response: HelperResponse; fd?: number };

export class HelperServer {
  readonly socketPath: string;
  readonly #options: HelperServerOptions;
  readonly #server: Server;
  readonly #gracePeriodMs: number;
  readonly #sessions = new Set<Session>();
  readonly #refusals: RefusalLog;
  readonly #idleTimeoutMs: number;
  #controller: Session | null = null;
  #graceTimer: NodeJS.Timeout | undefined;
  /** Root operations run one at a time, whichever connection asked. */
  #operations: Promise<unknown> = Promise.resolve();
  #nextSessionId = 1;
  #stopping = false;

  private constructor(options: HelperServerOptions) {
    this.#options = options;
    this.socketPath = options.socketPath;
    this.#gracePeriodMs = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#refusals = new RefusalLog(options.logger);
    this.#server = createServer((socket) => this.#accept(socket));
  }

  /** Listen on the socket path, replacing a stale socket file but never a live helper. */
  static async start(options: HelperServerOptions): Promise<HelperServer> {
    const server = new HelperServer(options);
    await listenUnix(server.#server, await prepareSocketPath(options.socketPath), SOCKET_MODE);
    options.logger.info(
      { socket: options.socketPath, allowedUid: options.allowedUid, gracePeriodMs: server.#gracePeriodMs },
      'helper listening',
    );
    return server;
  }

  /**
   * Stop serving; with `teardown`, also remove the hosts section, the addresses and every interface
   * ngrokd made (SIGTERM, so a stopped helper leaves nothing behind).
   */
  async close(options: { teardown?: boolean } = {}): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#graceTimer);
    this.#refusals.flush();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions) session.socket.destroy();
    await closed;
    if (options.teardown === true)
      await this.#run(() => this.#options.ops.teardown()).catch(this.#logCleanupError);
    await this.#operations.catch(() => undefined);
    await unlink(this.socketPath).catch(() => undefined);
  }

  #accept(socket: Socket): void {
    const log = this.#options.logger;
    let peer: PeerCredentials;
    try {
      peer = peerCredentials(handleFd(socket));
    } catch (err) {
      log.warn({ err: String(err) }, 'refused connection: peer credentials unavailable');
      socket.destroy();
      return;
    }
    if (!isPeerAllowed(peer, this.#options.allowedUid)) {
      this.#refusals.refused(
        `uid ${peer.uid}`,
        { uid: peer.uid, gid: peer.gid, pid: peer.pid, allowedUid: this.#options.allowedUid },
        'refused connection',
      );
      socket.destroy();
      return;
    }
    const sameUid = [...this.#sessions].filter((s) => s.peer.uid === peer.uid).length;
    if (sameUid >= MAX_CONNECTIONS_PER_UID || this.#sessions.size >= MAX_CONNECTIONS) {
      this.#refusals.refused(
        `limit uid ${peer.uid}`,
        { uid: peer.uid, pid: peer.pid, connections: sameUid, perUidLimit: MAX_CONNECTIONS_PER_UID },
        'refused connection: too many connections',
      );
      socket.destroy();
      return;
    }
    const session: Session = {
      id: this.#nextSessionId++,
      socket,
      peer,
      reader: new FrameReader(PRE_HELLO_MAX_FRAME_BYTES),
      pump: new RequestPump<Buffer>({
        socket,
        handle: async (payload) => {
          if (session.hangingUp) return;
          await this.#send(session, await this.#handle(session, payload));
        },
        onOverflow: (pending) => {
          this.#hangUp(
            session,
            new NgrokdError(
              'PROTOCOL_ERROR',
              `helper protocol: ${pending} requests pipelined at once (at most ${DEFAULT_PUMP_LIMITS.maxPending} may wait)`,
              'Send one request at a time and read each reply.',
            ),
          );
        },
      }),
      greeted: false,
      hangingUp: false,
      lastWrite: Promise.resolve(),
    };
    this.#sessions.add(session);
    log.info({ session: session.id, uid: peer.uid, pid: peer.pid }, 'client connected');
    socket.on('data', (chunk) => this.#receive(session, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.#closed(session));
    // The controller may be quiet for as long as the app runs; anyone else must keep talking.
    socket.setTimeout(this.#idleTimeoutMs, () => {
      if (this.#controller !== session) socket.destroy();
    });
  }

  /** Answer once with `err`, then close: nothing more is read from this peer. */
  #hangUp(session: Session, err: unknown): void {
    this.#options.logger.warn({ session: session.id, err: toUserFacing(err).message }, 'closing connection');
    session.hangingUp = true;
    session.pump.clear();
    this.#write(session, encodeFrame(failure(0, err).response));
    session.socket.destroySoon();
  }

  #receive(session: Session, chunk: Buffer): void {
    if (session.hangingUp) return;
    let payloads: Buffer[];
    try {
      payloads = session.reader.push(chunk);
    } catch (err) {
      // An oversize frame: answer once, then hang up rather than buffer it.
      this.#hangUp(session, err);
      return;
    }
    session.pump.push(payloads);
  }

  async #handle(session: Session, payload: Buffer): Promise<Reply> {
    const decoded = decodeRequest(payload);
    if (!decoded.ok) return failure(decoded.id, decoded.error);
    const request = decoded.request;
    try {
      if (request.method === 'hello') {
        // Answered whatever the client speaks, so an app can always learn the helper's version.
        session.greeted = request.params.protocol === HELPER_PROTOCOL_VERSION;
        if (session.greeted) session.reader.limit = MAX_FRAME_BYTES;
        return success(request.id, {
          version: this.#options.version,
          protocol: HELPER_PROTOCOL_VERSION,
          hostsPath: this.#options.ops.hostsPath,
          ...(this.#options.ops.pinned === null ? {} : { network: this.#options.ops.pinned }),
        });
      }
      if (!session.greeted) {
        throw new NgrokdError(
          'PROTOCOL_ERROR',
          `helper protocol: ${request.method} before a successful hello (this helper speaks protocol ${HELPER_PROTOCOL_VERSION})`,
          'Upgrade the helper so it matches the app: `npm run ngrokd -- helper install`.',
        );
      }
      this.#refuseIfNotController(session, request.method);
      const reply = await this.#run(() => this.#perform(request));
      if (request.method === 'ensureInterface') this.#takeControl(session);
      return reply;
    } catch (err) {
      return failure(request.id, err);
    }
  }

  /** Run one root operation after those already queued. */
  #run<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#operations.then(operation);
    this.#operations = run.catch(() => undefined);
    return run;
  }

  async #perform(request: Exclude<HelperRequest, { method: 'hello' }>): Promise<Reply> {
    const ops = this.#options.ops;
    switch (request.method) {
      case 'ensureInterface':
        return success(request.id, await ops.ensureInterface(request.params));
      case 'setAddresses':
        await ops.setAddresses(request.params.ips);
        return success(request.id, {});
      case 'setHosts':
        return success(request.id, await ops.setHosts(request.params.entries));
      case 'listen': {
        const { server, port } = await ops.listen(request.params.ip, request.params.port);
        // Still in the microtask that saw 'listening': the event loop has not polled this socket,
        // so the helper can never accept a connection meant for the app.
        let fd: number;
        try {
          fd = duplicateFd(handleFd(server));
        } finally {
          server.close();
        }
        return { response: { id: request.id, ok: true, result: { port } }, fd };
      }
      case 'teardown':
        await ops.teardown();
        return success(request.id, {});
      case 'checkNetwork': {
        const c = await ops.checkNetwork(request.params);
        return success(request.id, {
          conflict: c === null ? null : { code: c.code, message: c.message, fix: c.fix },
        });
      }
    }
  }

  /** Only the controller changes state; with none, a client starts with ensureInterface. */
  #refuseIfNotController(session: Session, method: string): void {
    const controller = this.#controller;
    if (controller === session) return;
    if (controller !== null) {
      const who = `pid ${controller.peer.pid ?? '?'}, uid ${controller.peer.uid}`;
      throw new NgrokdError(
        'INTERFACE_IN_USE',
        `the privileged helper is in use by another ngrokd (${who}); only one daemon or app can use it at a time`,
        `Stop the other one first (the desktop app, or \`ngrokd daemon\` with ${who}), then start this one again.`,
      );
    }
    if (method !== 'ensureInterface') {
      throw new NgrokdError(
        'PROTOCOL_ERROR',
        `helper protocol: ${method} before ensureInterface`,
        'Call ensureInterface first; this is a bug if it happens.',
      );
    }
  }

  #takeControl(session: Session): void {
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    if (this.#controller === session) return;
    this.#controller = session;
    this.#options.logger.info({ session: session.id, uid: session.peer.uid }, 'client took control');
  }

  #closed(session: Session): void {
    this.#sessions.delete(session);
    this.#options.logger.info({ session: session.id }, 'client disconnected');
    if (this.#controller !== session) return;
    this.#controller = null;
    if (this.#stopping) return;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = undefined;
      if (this.#controller !== null) return;
      this.#options.logger.warn(
        { gracePeriodMs: this.#gracePeriodMs },
        'client gone: removing hosts section, addresses and interface',
      );
      void this.#run(() => this.#options.ops.teardown()).catch(this.#logCleanupError);
    }, this.#gracePeriodMs);
  }

  #logCleanupError = (err: unknown): void => {
    this.#options.logger.error({ err: toUserFacing(err, 'HELPER_ERROR') }, 'cleanup failed');
  };

  async #send(session: Session, reply: Reply): Promise<void> {
    const frame = encodeFrame(reply.response);
    if (reply.fd === undefined) {
      this.#write(session, frame);
      return;
    }
    try {
      // A client that stops reading must not pin a root-held listening fd: give up and hang up.
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        session.lastWrite.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), FD_SEND_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      if (!drained) session.socket.destroy();
      if (session.socket.destroyed) return;
      const sent = await sendFrameWithFd(session.socket, frame, reply.fd);
      if (sent < frame.length) this.#write(session, frame.subarray(sent));
    } finally {
      closeFd(reply.fd);
    }
  }

  #write(session: Session, frame: Buffer): void {
    if (session.socket.destroyed) return;
    session.lastWrite = new Promise((resolve) => session.socket.write(frame, () => resolve()));
  }
}

function success(id: number, result: object): Reply {
  return { response: { id, ok: true, result } };
}

function failure(id: number, err: unknown): Reply {
  const { at: _at, ...error } = toUserFacing(err, 'HELPER_ERROR');
  return { response: { id, ok: false, error } };
}

/** sendmsg with the fd attached, retrying while the client's buffer is full. Returns bytes sent. */
async function sendFrameWithFd(socket: Socket, frame: Buffer, fd: number): Promise<number> {
  const deadline = Date.now() + FD_SEND_TIMEOUT_MS;
  for (;;) {
    try {
      return sendWithFd(handleFd(socket), frame, fd);
    } catch (err) {
      const retry =
        err instanceof SocketCallError &&
        (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK' || err.code === 'EINTR');
      if (!retry || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, FD_SEND_RETRY_MS));
    }
  }
}

/**
 * Refuse a socket directory other users could write (they could swap the path for a symlink), then
 * remove a stale socket file; refuse when a helper answers on it or the path is not a socket.
 */
async function prepareSocketPath(socketPath: string): Promise<string> {
  // macOS's /var/run is a symlink to /private/var/run: followed, since root owns both ends.
  const path = resolveSafePath(socketPath, {
    what: 'helper socket',
    owners: trustedOwners(),
    type: 'socket',
  });
  const stat = await lstat(path).catch(() => null);
  if (stat === null) return path;
  if (!stat.isSocket()) {
    throw new NgrokdError(
      'HELPER_ERROR',
      `helper socket path ${path} exists and is not a socket`,
      `Move ${path} away or choose another socket path.`,
    );
  }
  if (await socketInUse(path)) {
    throw new NgrokdError(
      'HELPER_ERROR',
      `another helper is already listening on ${path}`,
      'Stop it first (systemctl stop ngrokd-helper), or choose another socket path.',
    );
  }
  await unlink(path);
  return path;
}
