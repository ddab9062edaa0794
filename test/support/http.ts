/** Raw HTTP and TCP probes for tests: real sockets, every header as the test wrote it. */
import http, { type Agent, type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import type { UiServer } from '../../main/engine/ui-server/server.ts';

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpRequestOptions {
  method?: string;
  path?: string;
  /** Sent as given; without a Host header Node sends `ip:port`. */
  headers?: Record<string, string>;
  body?: string;
  /** A keep-alive agent to reuse connections; by default each request has its own connection. */
  agent?: Agent;
}

/**
 * One HTTP request to `ip:port`, answered with the whole body. An event stream never ends, so
 * for one the answer is its status and headers (empty body) and the connection is closed.
 */
export function httpRequest(ip: string, port: number, options: HttpRequestOptions = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: ip,
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        agent: options.agent ?? false,
        headers: options.headers ?? {},
      },
      (res) => {
        const reply = (body: string): HttpReply => ({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
        });
        if (String(res.headers['content-type']).startsWith('text/event-stream')) {
          res.destroy();
          resolve(reply(''));
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(reply(Buffer.concat(chunks).toString())));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A request to browser mode's server with its own Host (like a page of its origin), unless overridden. */
export function uiRequest(ui: UiServer, options: HttpRequestOptions & { path: string }): Promise<HttpReply> {
  const origin = new URL(ui.origin);
  return httpRequest('127.0.0.1', Number(origin.port), {
    ...options,
    headers: { Host: origin.host, ...options.headers },
  });
}

/** Whether a TCP connection to `ip:port` is accepted: a closed listener must refuse. */
export function canConnect(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
