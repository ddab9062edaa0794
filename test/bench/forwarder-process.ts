/**
 * This project's forwarder on its own, as the daemon runs it (BindingDialer with its defaults,
 * warm pool included, and one EndpointListener), so the reference bench can read its CPU time
 * apart from the measuring client's. Setup comes as JSON in NGROKD_BENCH_FORWARDER; prints
 * "LISTEN 127.0.0.1:PORT" once listening; exits on SIGTERM.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import { parseEndpointUrl } from '../../main/common/endpoint-url.ts';
import { BindingDialer } from '../../main/engine/binding/dialer.ts';
import type { IngressTrust } from '../../main/engine/binding/trust.ts';
import { EndpointListener } from '../../main/engine/forwarder/endpoint-listener.ts';

export const FORWARDER_ENV = 'NGROKD_BENCH_FORWARDER';

export interface ForwarderSetup {
  ingress: string;
  servername: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  endpointUrl: string;
}

if (process.env[FORWARDER_ENV] !== undefined) {
  const setup = JSON.parse(process.env[FORWARDER_ENV]) as ForwarderSetup;
  const trust: IngressTrust = { ca: [setup.caPem], sources: ['bench CA'], extraCount: 1 };
  const dialer = new BindingDialer({
    ingress: setup.ingress,
    servername: setup.servername,
    credentials: { certPem: setup.certPem, keyPem: setup.keyPem },
    trust,
  });
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const listener = new EndpointListener({
    socket: { server, port },
    address: parseEndpointUrl(setup.endpointUrl),
    dialer,
  });
  process.stdout.write(`LISTEN 127.0.0.1:${port}\n`);
  process.once('SIGTERM', () => {
    void listener.close().finally(() => {
      dialer.close();
      process.exit(0);
    });
  });
}
