/**
 * Gentle simulated traffic for `ngrokd demo --ui`, so the sparklines have something to draw: a few
 * requests a second from inside the demo process to the demo endpoints' loopback addresses, each
 * endpoint rising and falling on its own slow wave, plus one long-lived TCP connection.
 */
import http from 'node:http';
import net from 'node:net';
import type { EndpointView } from '../common/contract.ts';

const TICK_MS = 300;
const MAX_IN_FLIGHT = 4;

export interface DemoTraffic {
  stop(): void;
}

/** Only loopback: the demo must never send anything off the machine. */
function isLoopback(ip: string): boolean {
  return net.isIPv4(ip) && ip.startsWith('127.');
}

function wave(key: string, now: number): number {
  let hash = 0;
  for (const ch of key) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const period = 20_000 + (hash % 40) * 1000;
  return (1 + Math.sin((now / period) * 2 * Math.PI + hash)) / 2;
}

function httpRequest(e: EndpointView, weight: number, done: () => void): void {
  const upload =
    Math.random() < 0.25 ? Buffer.alloc(Math.round(2_000 + 40_000 * weight * Math.random()), 0x62) : null;
  const size = Math.round(1_000 + 150_000 * weight * Math.random());
  const req = http.request(
    {
      host: e.ip,
      port: e.listen_port,
      method: upload === null ? 'GET' : 'POST',
      path: `/bytes/${size}`,
      headers: { Host: e.hostname, ...(upload === null ? {} : { 'Content-Length': upload.length }) },
      agent: false,
      timeout: 5_000,
    },
    (res) => {
      res.resume();
      res.once('end', done);
      res.once('error', done);
    },
  );
  req.once('error', done);
  req.once('timeout', () => req.destroy());
  req.end(upload ?? undefined);
}

function echoExchange(e: EndpointView, weight: number, done: () => void): void {
  const payload = Buffer.alloc(Math.round(500 + 30_000 * weight * Math.random()), 0x63);
  const socket = net.connect({ host: e.ip, port: e.listen_port }, () => socket.end(payload));
  socket.setTimeout(5_000, () => socket.destroy());
  socket.resume(); // read the echo back, so bytes flow both ways
  socket.once('close', done);
  socket.once('error', () => socket.destroy());
}

export function startDemoTraffic(endpoints: () => EndpointView[]): DemoTraffic {
  let inFlight = 0;
  let stopped = false;
  let steady: net.Socket | null = null;
  const finished = (): void => {
    inFlight--;
  };

  const keepSteadyConnection = (): void => {
    if (stopped || steady !== null) return;
    const target = endpoints().find((e) => e.proto === 'tcp' && e.listening && isLoopback(e.ip));
    if (target === undefined) return;
    const socket = net.connect({ host: target.ip, port: target.listen_port });
    steady = socket;
    socket.on('data', () => undefined);
    socket.once('error', () => socket.destroy());
    socket.once('close', () => {
      if (steady === socket) steady = null;
    });
  };

  const timer = setInterval(() => {
    keepSteadyConnection();
    steady?.write(Buffer.alloc(64 + Math.floor(Math.random() * 400), 0x64));
    const now = Date.now();
    for (const e of endpoints()) {
      if (inFlight >= MAX_IN_FLIGHT) break;
      if (!e.listening || !isLoopback(e.ip)) continue;
      const weight = wave(e.url, now);
      // About one request a second per endpoint at the top of its wave, one in four at the bottom.
      if (Math.random() > (0.25 + 0.75 * weight) * (TICK_MS / 1000)) continue;
      inFlight++;
      if (e.proto === 'http' || e.proto === 'https') httpRequest(e, weight, finished);
      else echoExchange(e, weight, finished);
    }
  }, TICK_MS);
  timer.unref();

  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      steady?.destroy();
    },
  };
}
