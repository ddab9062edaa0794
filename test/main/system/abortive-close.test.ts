import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import {
  connect as tlsConnect,
  createServer as createTlsServer,
  type ConnectionOptions,
  type TLSSocket,
} from 'node:tls';
import { endedByReset, resetConnection } from '../../../main/system/abortive-close.ts';
import { createPki, INGRESS_NAME, type Pki } from '../../support/tls-fixtures.ts';

let pki: Pki;

before(async () => {
  pki = await createPki();
});

/** How a socket's read side ended: a clean FIN, or a reset (reported as an error, or found after 'end'). */
type Outcome = 'fin' | 'reset';

function outcome(socket: Socket): Promise<{ outcome: Outcome; received: number }> {
  return new Promise((resolve) => {
    let received = 0;
    let result: Outcome | null = null;
    socket.on('data', (c: Buffer) => (received += c.length));
    socket.on('end', () => {
      result ??= endedByReset(socket) ? 'reset' : 'fin';
      socket.end();
    });
    socket.on('error', () => (result ??= 'reset'));
    socket.on('close', () => resolve({ outcome: result ?? 'reset', received }));
  });
}

const servers: Server[] = [];
after(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function serve<T extends Server>(server: T): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** A TLS server with the test PKI; `onSecure` gets each connection. */
async function tlsServer(onSecure: (socket: TLSSocket) => void): Promise<number> {
  const server = createTlsServer({ key: pki.server.keyPem, cert: pki.server.certPem, allowHalfOpen: true });
  server.on('secureConnection', onSecure);
  return serve(server);
}

function tlsClient(port: number): TLSSocket {
  // allowHalfOpen is honoured by tls.connect but missing from its typings.
  const options: ConnectionOptions & { allowHalfOpen: boolean } = {
    port,
    host: '127.0.0.1',
    servername: INGRESS_NAME,
    ca: pki.ingressCA.certPem,
    allowPartialTrustChain: true,
    allowHalfOpen: true,
  };
  return tlsConnect(options);
}

const MIB = 1024 * 1024;

test('a reset in the middle of a download is recognised, even when Node reports it as a clean end', async () => {
  const port = await serve(
    createNetServer((socket) => {
      socket.on('error', () => {});
      // Reset while most of it is still in flight.
      socket.write(Buffer.alloc(16 * MIB), () => {});
      setImmediate(() => resetConnection(socket));
    }),
  );
  const client = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const { outcome: how, received } = await outcome(client);
  assert.ok(received < 16 * MIB, 'the download was cut short');
  assert.equal(how, 'reset');
});

test('a FIN is not taken for a reset, whether or not our side had ended first', async () => {
  for (const weEndFirst of [false, true]) {
    const port = await serve(
      createNetServer({ allowHalfOpen: true }, (socket) => {
        socket.on('error', () => {});
        const answer = (): void => void socket.end(Buffer.alloc(MIB));
        if (weEndFirst) {
          socket.on('end', answer);
          socket.resume();
        } else answer();
      }),
    );
    const client = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
    if (weEndFirst) client.end('request');
    const result = await outcome(client);
    assert.deepEqual(result, { outcome: 'fin', received: MIB }, `our side ended first: ${weEndFirst}`);
  }
});

test('resetConnection on a TLS socket sends a TCP reset, and the socket still closes normally', async () => {
  // (Wrapped: a promise resolved with a promise would wait for the inner one.)
  let accepted: (server: { ended: Promise<{ outcome: Outcome; received: number }> }) => void = () => {};
  const serverSide = new Promise<{ ended: Promise<{ outcome: Outcome; received: number }> }>(
    (resolve) => (accepted = resolve),
  );
  const port = await tlsServer((socket) => accepted({ ended: outcome(socket) }));
  const client = tlsClient(port);
  client.on('error', () => {});
  await once(client, 'secureConnect');
  const server = await serverSide;
  // An upload in progress.
  for (let i = 0; i < 64; i++) client.write(Buffer.alloc(64 * 1024));
  const closed = once(client, 'close');
  resetConnection(client);
  await closed;
  assert.equal(client.destroyed, true);
  assert.equal((await server.ended).outcome, 'reset', 'the server saw a reset, not a clean end');
});

test('resetConnection on a server-side TLS socket resets the client', async () => {
  const port = await tlsServer((socket) => {
    socket.on('error', () => {});
    socket.write(Buffer.alloc(8 * MIB));
    setImmediate(() => resetConnection(socket));
  });
  const client = tlsClient(port);
  const { outcome: how, received } = await outcome(client);
  assert.ok(received < 8 * MIB);
  assert.equal(how, 'reset');
});

test('a clean TLS end (close_notify and FIN) is not taken for a reset', async () => {
  const port = await tlsServer((socket) => {
    socket.on('error', () => {});
    socket.end(Buffer.alloc(MIB));
  });
  assert.deepEqual(await outcome(tlsClient(port)), { outcome: 'fin', received: MIB });
});

test('with our FIN already on its way, resetConnection falls back to a plain close', async () => {
  let peer: Promise<{ outcome: Outcome; received: number }> | undefined;
  const port = await serve(
    createNetServer({ allowHalfOpen: true }, (socket) => {
      peer = outcome(socket);
    }),
  );
  const client = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => {});
  await once(client, 'connect');
  client.end(Buffer.alloc(4 * MIB));
  const closed = once(client, 'close');
  assert.doesNotThrow(() => resetConnection(client));
  await closed;
  assert.ok(peer !== undefined);
  await peer;
});
