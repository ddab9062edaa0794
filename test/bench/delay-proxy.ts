/**
 * A TCP proxy that makes loopback look like a distant ingress: every chunk (and the FIN) is held
 * for `delayMs` in each direction, in order, so a round trip costs 2 × delayMs. The proxy accepts
 * at once, so the TCP handshake's round trip is charged to the first bytes the client sends: they
 * leave no earlier than one round trip after the connection was accepted.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface DelayProxyOptions {
  target: { host: string; port: number };
  /** One-way delay. */
  delayMs: number;
}

/** `null` is the FIN. */
type Held = { due: number; chunk: Buffer | null };

/**
 * Forward `from` → `to`, each chunk and the end delayed by `delayMs`, in arrival order; nothing
 * departs before `notBefore` (performance.now() time).
 */
function delayedPipe(from: Socket, to: Socket, delayMs: number, notBefore = 0): void {
  const queue: Held[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && (queue[0] as Held).due <= now) {
      const { chunk } = queue.shift() as Held;
      if (chunk === null) to.end();
      else to.write(chunk);
    }
    if (queue.length > 0) timer = setTimeout(flush, (queue[0] as Held).due - now);
  };
  const hold = (chunk: Buffer | null): void => {
    const due = Math.max(performance.now(), notBefore) + delayMs;
    queue.push({ due, chunk });
    timer ??= setTimeout(flush, due - performance.now());
  };
  from.on('data', hold);
  from.on('end', () => hold(null));
  from.once('close', () => {
    // Torn down (not ended): nothing more can be delivered.
    if (!from.readableEnded) {
      clearTimeout(timer);
      to.destroy();
    }
  });
}

export class DelayProxy {
  port = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(options: DelayProxyOptions) {
    this.#server = createServer({ allowHalfOpen: true }, (client) => {
      const upstream = connect({ ...options.target, allowHalfOpen: true, noDelay: true });
      client.setNoDelay(true);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      // SYN out, SYN-ACK back: a real client could send its first byte one round trip from now.
      delayedPipe(client, upstream, options.delayMs, performance.now() + 2 * options.delayMs);
      delayedPipe(upstream, client, options.delayMs);
    });
  }

  static async start(options: DelayProxyOptions): Promise<DelayProxy> {
    const proxy = new DelayProxy(options);
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    proxy.port = (proxy.#server.address() as AddressInfo).port;
    return proxy;
  }

  /** `127.0.0.1:port`, what a dialer dials instead of the ingress. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
