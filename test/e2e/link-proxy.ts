/**
 * A link to the browser UI that the test can cut and restore, as a daemon that stops answering or
 * a network that drops would: the page talks to this proxy, which forwards to the UI server with
 * the Host and Origin the server expects. `cut()` breaks every open request (the event stream
 * too) and refuses new ones until `restore()`.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface LinkProxy {
  origin: string;
  /** The UI server's link, through this proxy. */
  link(uiLink: string): string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startLinkProxy(uiOrigin: string): Promise<LinkProxy> {
  const target = new URL(uiOrigin);
  let cut = false;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (cut) {
      req.socket.destroy();
      return;
    }
    const headers = { ...req.headers, host: target.host };
    if (headers.origin !== undefined) headers.origin = target.origin;
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (cut) socket.destroy();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    link: (uiLink) => uiLink.replace(uiOrigin, origin),
    cut() {
      cut = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      cut = false;
    },
    async close() {
      cut = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
