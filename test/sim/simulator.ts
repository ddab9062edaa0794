/**
 * The whole fake ngrok on loopback: REST API, binding ingress and endpoint backends sharing one
 * endpoint store. Used by integration tests, benchmarks and `ngrokd demo`; run this file directly
 * for a standalone simulator that prints its addresses as JSON and runs until SIGINT.
 */
import type tls from 'node:tls';
import { createCa, createIntermediate, issueServerCert } from './ca.ts';
import { ApiServer, EndpointStore } from './api-server.ts';
import type { SimEndpointInput } from './api-server.ts';
import { Backends } from './backends.ts';
import { DEFAULT_INGRESS_SERVER_NAME, IngressServer } from './ingress-server.ts';

export interface SimulatorOptions {
  /** Default: a random `sim_…` key. */
  apiKey?: string;
  endpoints?: SimEndpointInput[];
  certLifetimeDays?: number;
  /** Wins over certLifetimeDays (e.g. 120 for 2-minute certificates). */
  certLifetimeSeconds?: number;
  rateLimitPerMinute?: number;
  /** Refuse more simultaneous API requests than this with 429 ERR_NGROK_225. */
  maxConcurrentRequests?: number;
  apiDelayMs?: number;
  /** The API's clock (request log, rate limit, certificate validity); default Date.now. */
  now?: () => number;
  /** What the API returns as `binding.ingress_endpoint`; default the ingress's `127.0.0.1:port`. */
  ingressEndpoint?: string;
  ingress?: { serverName?: string; maxVersion?: tls.SecureVersion };
}

export interface Simulator {
  apiUrl: string;
  apiKey: string;
  /** `127.0.0.1:port`. */
  ingressEndpoint: string;
  /** The DNS name in the ingress certificate; use it as SNI / for verification. */
  ingressServerName: string;
  /** The intermediate that signed the ingress leaf (trust it with allowPartialTrustChain). */
  ingressCaPem: string;
  /** The intermediate that signed the untrusted ingress leaf. */
  untrustedCaPem: string;
  /** CA that signs operator client certificates. */
  clientCaPem: string;
  api: ApiServer;
  ingress: IngressServer;
  backends: Backends;
  close(): Promise<void>;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const serverName = options.ingress?.serverName ?? DEFAULT_INGRESS_SERVER_NAME;
  const [root, foreignRoot, clientCa] = await Promise.all([
    createCa('CN=Sim Root CA, O=ngrok Sim'),
    createCa('CN=Foreign Root CA, O=Elsewhere'),
    createCa('CN=Sim Binding Client CA, O=ngrok Sim'),
  ]);
  const [intermediate, foreignIntermediate] = await Promise.all([
    createIntermediate(root, 'CN=Intermediate CA, OU=sim, O=ngrok Sim'),
    createIntermediate(foreignRoot, 'CN=Intermediate CA, OU=foreign, O=Elsewhere'),
  ]);
  const names = { dnsNames: [serverName], ips: ['127.0.0.1'] };
  const [serverCert, untrustedCert] = await Promise.all([
    issueServerCert(intermediate, names),
    issueServerCert(foreignIntermediate, names),
  ]);

  const store = new EndpointStore();
  for (const endpoint of options.endpoints ?? []) store.add(endpoint);
  const backends = await Backends.start();
  const ingress = await IngressServer.start({
    store,
    backends,
    serverCert,
    untrustedCert,
    clientCaPem: clientCa.certPem,
    serverName,
    ...(options.ingress?.maxVersion === undefined ? {} : { maxVersion: options.ingress.maxVersion }),
  });
  const apiKey = options.apiKey ?? `sim_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const api = await ApiServer.start({
    apiKey,
    clientCa,
    store,
    ingressEndpoint: options.ingressEndpoint ?? ingress.address,
    ...(options.certLifetimeDays === undefined ? {} : { certLifetimeDays: options.certLifetimeDays }),
    ...(options.certLifetimeSeconds === undefined
      ? {}
      : { certLifetimeSeconds: options.certLifetimeSeconds }),
    ...(options.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: options.rateLimitPerMinute }),
    ...(options.maxConcurrentRequests === undefined
      ? {}
      : { maxConcurrentRequests: options.maxConcurrentRequests }),
    ...(options.apiDelayMs === undefined ? {} : { delayMs: options.apiDelayMs }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });

  return {
    apiUrl: api.url,
    apiKey,
    ingressEndpoint: ingress.address,
    ingressServerName: serverName,
    ingressCaPem: intermediate.certPem,
    untrustedCaPem: foreignIntermediate.certPem,
    clientCaPem: clientCa.certPem,
    api,
    ingress,
    backends,
    async close() {
      await Promise.all([api.close(), ingress.close()]);
      await backends.close();
    },
  };
}

/** Endpoints `ngrokd demo` and the standalone simulator serve: each protocol, a pooled pair, the seed's my-api.ngrok.app. */
export const DEMO_ENDPOINTS: SimEndpointInput[] = [
  { url: 'http://my-api.ngrok.app' },
  { url: 'http://web.prod' },
  { url: 'http://grafana.monitoring:3000' },
  { url: 'http://checkout.shop', pooling: true },
  { url: 'http://checkout.shop', pooling: true },
  { url: 'tcp://postgres.db:5432' },
  { url: 'tls://payments.internal:443' },
];

const EARLY_DATA_BEHAVIOURS = ['keep', 'drop', 'drop-first-read'] as const;

/** NGROK_SIM_EARLY_DATA for the standalone simulator: what its ingress does with early bytes. */
function earlyDataFromEnv(value: string | undefined): IngressServer['earlyData'] {
  if (value === undefined || value === '') return 'keep';
  const found = EARLY_DATA_BEHAVIOURS.find((b) => b === value);
  if (found === undefined)
    throw new Error(`NGROK_SIM_EARLY_DATA is "${value}"; allowed: ${EARLY_DATA_BEHAVIOURS.join(', ')}`);
  return found;
}

if (import.meta.main) {
  let earlyData: IngressServer['earlyData'];
  try {
    earlyData = earlyDataFromEnv(process.env.NGROK_SIM_EARLY_DATA);
  } catch (err) {
    process.stderr.write(`simulator: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const sim = await startSimulator({ apiKey: process.env.NGROK_SIM_API_KEY, endpoints: DEMO_ENDPOINTS });
  sim.ingress.earlyData = earlyData;
  const { apiUrl, apiKey, ingressEndpoint, ingressServerName, ingressCaPem } = sim;
  process.stdout.write(
    `${JSON.stringify({ apiUrl, apiKey, ingressEndpoint, ingressServerName, ingressCaPem }, null, 2)}\n`,
  );
  process.once('SIGINT', () => void sim.close().then(() => process.exit(0)));
}
