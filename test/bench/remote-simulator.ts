/**
 * The simulator in a child process: ngrok's side of the wire is another machine in real life, so
 * its TLS encryption and backends must not share the forwarder's event loop (or its RSS). The parent
 * drives it over IPC; run as a script, this file is that child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IngressServer } from '../sim/ingress-server.ts';
import type { SimEndpointInput } from '../sim/api-server.ts';
import { processCpuMs } from './measure.ts';
import { startSimulator, type Simulator } from '../sim/simulator.ts';

/** What a parent needs to reach the simulator. */
export interface RemoteSimulatorInfo {
  apiUrl: string;
  apiKey: string;
  /** `127.0.0.1:port`. */
  ingressEndpoint: string;
  /** Whether the ingress's TCP sockets have Nagle's algorithm off, as a Go server's do. */
  ingressServerName: string;
  ingressCaPem: string;
}

export interface RemoteSimulatorOptions {
  /** Cap the ingress's TLS version (TLS 1.2 resumption saves a round trip; 1.3's does not). */
  ingressMaxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface HandshakeCounts {
  full: number;
  resumed: number;
}

type Request =
  | { id: number; op: 'setEndpoints'; endpoints: SimEndpointInput[] }
  | { id: number; op: 'handshakes' }
  | { id: number; op: 'earlyData'; earlyData: IngressServer['earlyData'] }
  | { id: number; op: 'apiRequests' }
  | { id: number; op: 'cpuMs' }
  | { id: number; op: 'close' };
type Reply = { id: number; result?: unknown; error?: string };
type Ready = { ready: RemoteSimulatorInfo };

export class RemoteSimulator {
  readonly info: RemoteSimulatorInfo;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  #seq = 0;

  private constructor(child: ChildProcess, info: RemoteSimulatorInfo) {
    this.#child = child;
    this.info = info;
    child.on('message', (message: Reply) => {
      const waiter = this.#pending.get(message.id);
      if (waiter === undefined) return;
      this.#pending.delete(message.id);
      if (message.error !== undefined) waiter.reject(new Error(`simulator: ${message.error}`));
      else waiter.resolve(message.result);
    });
    child.once('exit', (code) => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`simulator exited with ${code}`));
      this.#pending.clear();
    });
  }

  /** Fork the child and wait until its API and ingress are listening. */
  static async start(options: RemoteSimulatorOptions = {}): Promise<RemoteSimulator> {
    const args = options.ingressMaxVersion === undefined ? [] : [options.ingressMaxVersion];
    // The child's stdout goes to our stderr: stdout is reserved for the benchmark's JSON.
    const child = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 2, 2, 'ipc'] });
    const info = await new Promise<RemoteSimulatorInfo>((resolve, reject) => {
      child.once('message', (message: Ready) => resolve(message.ready));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`simulator exited with ${code} before it was ready`)));
    });
    return new RemoteSimulator(child, info);
  }

  setEndpoints(endpoints: SimEndpointInput[]): Promise<void> {
    return this.#call({ id: 0, op: 'setEndpoints', endpoints }) as Promise<void>;
  }

  /** Handshakes the ingress has completed so far, counted by the server. */
  handshakes(): Promise<HandshakeCounts> {
    return this.#call({ id: 0, op: 'handshakes' }) as Promise<HandshakeCounts>;
  }

  /** What the ingress does with bytes sent before its ConnResponse (IngressServer.earlyData). */
  async setEarlyData(earlyData: IngressServer['earlyData']): Promise<void> {
    await this.#call({ id: 0, op: 'earlyData', earlyData });
  }

  /** Requests the API has received so far. */
  apiRequests(): Promise<number> {
    return this.#call({ id: 0, op: 'apiRequests' }) as Promise<number>;
  }

  /** CPU time (user + system) the simulator process has used so far, ms. */
  cpuMs(): Promise<number> {
    return this.#call({ id: 0, op: 'cpuMs' }) as Promise<number>;
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    await this.#call({ id: 0, op: 'close' }).catch(() => undefined);
    this.#child.disconnect();
    await exited;
  }

  #call(request: Request): Promise<unknown> {
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ ...request, id });
    });
  }
}

async function serve(maxVersion: string | undefined): Promise<void> {
  const sim: Simulator = await startSimulator(
    maxVersion === 'TLSv1.2' || maxVersion === 'TLSv1.3' ? { ingress: { maxVersion } } : {},
  );
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => (closing ??= sim.close());
  const send = (message: Reply | Ready): void => void process.send?.(message);
  process.on('message', (request: Request) => {
    void (async (): Promise<Reply> => {
      switch (request.op) {
        case 'setEndpoints':
          sim.api.setEndpoints(request.endpoints);
          return { id: request.id };
        case 'handshakes':
          return { id: request.id, result: { ...sim.ingress.handshakes } };
        case 'earlyData':
          sim.ingress.earlyData = request.earlyData;
          return { id: request.id };
        case 'apiRequests':
          return { id: request.id, result: sim.api.requestLog.length };
        case 'cpuMs':
          return { id: request.id, result: processCpuMs() };
        case 'close':
          await close();
          return { id: request.id };
      }
    })().then(send, (err: unknown) => send({ id: request.id, error: String(err) }));
  });
  // The parent went away (finished or crashed): nothing left to serve.
  process.once('disconnect', () => void close().finally(() => process.exit(0)));
  const { apiUrl, apiKey, ingressEndpoint, ingressServerName, ingressCaPem } = sim;
  send({ ready: { apiUrl, apiKey, ingressEndpoint, ingressServerName, ingressCaPem } });
}

if (import.meta.main) await serve(process.argv[2]);
