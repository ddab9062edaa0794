/** The client side of the measurements: an HTTP download counter, a first-byte probe and statistics. */
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';

export const MiB = 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');

export function httpGet(host: string, path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
}

/**
 * Send a GET for `/bytes/<n>` on an open connection and count the body as it arrives, without
 * keeping it. Resolves with the body size once all of it has been read.
 */
export function download(socket: Socket | TLSSocket, host: string, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let header = Buffer.alloc(0);
    let expected = -1;
    let body = 0;
    const done = (err?: Error): void => {
      socket.off('data', onData);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(body);
    };
    const onData = (chunk: Buffer): void => {
      if (expected < 0) {
        header = Buffer.concat([header, chunk]);
        const end = header.indexOf(HEADER_END);
        if (end < 0) return;
        const head = header.subarray(0, end).toString('latin1');
        const length = /\r\ncontent-length:\s*([0-9]+)/i.exec(head);
        if (!head.startsWith('HTTP/1.1 200') || length === null) {
          done(new Error(`unexpected answer: ${head.split('\r\n')[0] ?? ''}`));
          return;
        }
        expected = Number(length[1]);
        body = header.length - end - HEADER_END.length;
      } else {
        body += chunk.length;
      }
      if (body >= expected) done();
    };
    socket.on('data', onData);
    socket.once('error', (err) => done(err));
    socket.once('close', () => {
      if (body < expected || expected < 0) done(new Error(`connection closed after ${body} of ${n} bytes`));
    });
    socket.write(httpGet(host, `/bytes/${n}`));
    socket.resume();
  });
}

/** MiB/s of `bytes` moved in `ms`. */
export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

/**
 * Connect to a local listener, send a GET and time connect() → first byte of the answer; resolves
 * once the connection has closed, so probes never overlap.
 */
export function firstByteMs(port: number, host: string, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstByte = -1;
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.once('connect', () => socket.write(httpGet(host, '/')));
    socket.on('data', () => {
      if (firstByte < 0) firstByte = performance.now() - started;
    });
    socket.on('end', () => socket.end());
    socket.once('error', reject);
    socket.once('close', () => {
      if (firstByte < 0) reject(new Error('the connection closed without an answer'));
      else resolve(firstByte);
    });
  });
}

/** CPU time (user + system) this process has used so far, ms. */
export function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** Rounded for the report: enough digits to compare, no noise. */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * `clients` keep-alive HTTP clients (node:http, one socket each) sending GET /bytes/64 back to back
 * for `ms`; how many requests completed and over how long.
 */
export async function keepAliveRequests(
  port: number,
  host: string,
  clients: number,
  ms: number,
): Promise<{ requests: number; ms: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const started = performance.now();
  const deadline = started + ms;
  let requests = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/bytes/64', headers: { Host: host }, agent },
        (res) => {
          res.on('data', () => undefined);
          res.once('end', () => {
            if (res.statusCode === 200) requests++;
            resolve();
          });
          res.once('error', reject);
        },
      );
      req.once('error', reject);
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) await one();
  };
  try {
    await Promise.all(Array.from({ length: clients }, worker));
  } finally {
    agent.destroy();
  }
  return { requests, ms: performance.now() - started };
}

const ZEROES = Buffer.alloc(256 * 1024);

/**
 * POST `n` bytes to the HTTP backend through a local listener (written with backpressure) and
 * resolve once the answer has arrived; the backend answers after reading the whole body.
 */
export function upload(port: number, host: string, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    let sent = 0;
    let answered = false;
    const pump = (): void => {
      while (sent < n) {
        const piece = n - sent >= ZEROES.length ? ZEROES : ZEROES.subarray(0, n - sent);
        sent += piece.length;
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.once('connect', () => {
      socket.write(
        `POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n`,
      );
      pump();
    });
    socket.on('data', (chunk: Buffer) => {
      if (!answered && chunk.toString('latin1', 0, 12) === 'HTTP/1.1 200') {
        answered = true;
        socket.destroy();
        resolve(sent);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => {
      if (!answered) reject(new Error(`the upload closed after ${sent} of ${n} bytes without an answer`));
    });
  });
}
