/**
 * A hostile client of the privileged helper, run by helper-attack.scenario.ts as the very user the
 * helper serves (setpriv): it speaks the real protocol, but asks for what the helper must never do
 * for anybody. Prints one JSON object on stdout.
 *   abuse SOCKET        public subnets, other interface names, foreign addresses and hosts lines
 *   flood SOCKET BYTES  pipelines BYTES of requests and never reads a reply; stays until killed
 *   crowd SOCKET N      opens N connections at once and says hello on each
 *   idle SOCKET         says hello, then stays silent until the helper hangs up
 *   ensure SOCKET       asks for the interface root fixed (ngrokd0, 10.107.0.0/16) and prints the reply
 */
import { connect, type Socket } from 'node:net';
import {
  decodeResponse,
  encodeFrame,
  FrameReader,
  HELPER_PROTOCOL_VERSION,
} from '../../../helper/protocol.ts';

type Reply = { ok: true; result: unknown } | { ok: false; code: string; message: string };

function print(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function open(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A connection that sends one request at a time and waits for its reply. */
class Conversation {
  readonly #socket: Socket;
  readonly #reader = new FrameReader();
  readonly #waiting: ((reply: Reply | null) => void)[] = [];
  #nextId = 1;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const payload of this.#reader.push(chunk)) {
        const response = decodeResponse(payload);
        this.#waiting.shift()?.(
          response.ok
            ? { ok: true, result: response.result }
            : { ok: false, code: response.error.code, message: response.error.message },
        );
      }
    });
    socket.on('close', () => {
      for (const waiter of this.#waiting.splice(0)) waiter(null);
    });
    socket.on('error', () => undefined);
  }

  request(method: string, params: object): Promise<Reply | null> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#socket.write(encodeFrame({ id: this.#nextId++, method, params }));
    });
  }

  hello(): Promise<Reply | null> {
    return this.request('hello', { version: 'attacker', protocol: HELPER_PROTOCOL_VERSION });
  }

  close(): void {
    this.#socket.destroy();
  }
}

async function abuse(socketPath: string): Promise<void> {
  const talk = new Conversation(await open(socketPath));
  const results: Record<string, unknown> = { hello: await talk.hello() };
  // Public subnets, under the helper's own name and under new ones.
  results.publicSubnet = await talk.request('ensureInterface', { name: 'ngrokd0', subnet: '8.8.8.0/24' });
  results.publicSlash30 = await talk.request('ensureInterface', { name: 'ngrokd0', subnet: '1.1.1.0/30' });
  // Another private subnet than the one root fixed.
  results.otherSubnet = await talk.request('ensureInterface', { name: 'ngrokd0', subnet: '10.108.0.0/16' });
  // 42 interfaces under new names: each would have been a new link with a gateway address.
  const renames: (Reply | null)[] = [];
  for (let i = 0; i < 42; i++) {
    renames.push(await talk.request('ensureInterface', { name: `evil${i}`, subnet: '10.107.0.0/16' }));
  }
  results.renames = renames;
  results.pinned = await talk.request('ensureInterface', { name: 'ngrokd0', subnet: '10.107.0.0/16' });
  results.publicAddress = await talk.request('setAddresses', { ips: ['8.8.8.8'] });
  results.publicHosts = await talk.request('setHosts', {
    entries: [{ ip: '8.8.8.8', hostname: 'deb.debian.org' }],
  });
  results.publicListen = await talk.request('listen', { ip: '8.8.8.8', port: 53 });
  results.gatewayListen = await talk.request('listen', { ip: '10.107.0.1', port: 22 });
  print(results);
  talk.close();
}

/** Many small requests, written at once; the replies are never read. */
async function flood(socketPath: string, bytes: number): Promise<void> {
  const socket = await open(socketPath);
  socket.on('error', () => undefined);
  socket.pause();
  const frame = encodeFrame({ id: 1, method: 'hello', params: { version: 'x', protocol: 0 } });
  const frames = Math.ceil(bytes / frame.length);
  const payload = Buffer.concat(Array.from({ length: frames }, () => frame));
  socket.write(payload);
  print({ sent: payload.length, frames });
  // Stays until killed, never reading.
  await new Promise(() => undefined);
}

async function crowd(socketPath: string, count: number): Promise<void> {
  const talks = await Promise.all(
    Array.from({ length: count }, async () => {
      try {
        return new Conversation(await open(socketPath));
      } catch {
        return null;
      }
    }),
  );
  const replies = await Promise.all(talks.map((talk) => talk?.hello() ?? Promise.resolve(null)));
  print({
    answered: replies.filter((r) => r !== null && r.ok).length,
    refused: replies.filter((r) => r === null).length,
  });
  for (const talk of talks) talk?.close();
}

async function idle(socketPath: string): Promise<void> {
  const socket = await open(socketPath);
  const talk = new Conversation(socket);
  const hello = await talk.hello();
  await new Promise((resolve) => socket.once('close', resolve));
  print({ hello: hello?.ok ?? false, closedByHelper: true });
}

async function ensure(socketPath: string): Promise<void> {
  const talk = new Conversation(await open(socketPath));
  await talk.hello();
  print({ reply: await talk.request('ensureInterface', { name: 'ngrokd0', subnet: '10.107.0.0/16' }) });
  talk.close();
}

const [mode, socketPath, arg] = process.argv.slice(2);
if (socketPath === undefined) throw new Error('usage: helper-attacker.ts abuse|flood|crowd|idle SOCKET [N]');
if (mode === 'abuse') await abuse(socketPath);
else if (mode === 'flood') await flood(socketPath, Number(arg));
else if (mode === 'crowd') await crowd(socketPath, Number(arg));
else if (mode === 'ensure') await ensure(socketPath);
else await idle(socketPath);
