/** The binding ingress as configured (`ingressEndpoint`): `host[:port]`, the port defaulting to 443. */
import { NgrokdError } from '../../common/errors.ts';

const DEFAULT_INGRESS_PORT = 443;

export interface IngressAddress {
  host: string;
  port: number;
}

/** Parse `host`, `host:port` or `[v6]:port`. */
export function parseIngressAddress(ingress: string): IngressAddress {
  const m =
    /^\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?$/.exec(ingress) ??
    /^([^:\s[\]]+)(?::([0-9]{1,5}))?$/.exec(ingress);
  const port = m?.[2] === undefined ? DEFAULT_INGRESS_PORT : Number(m[2]);
  if (m === null || port < 1 || port > 65535) {
    throw new NgrokdError(
      'CONFIG_INVALID',
      `ingress endpoint ${JSON.stringify(ingress)} is not host[:port]`,
      'Set ingressEndpoint to host[:port], for example kubernetes-binding-ingress.ngrok.io:443, or remove it.',
    );
  }
  return { host: m[1] as string, port };
}
