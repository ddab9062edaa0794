/**
 * Field validators shared by every place that accepts these values from outside: the config file
 * (main/engine/config.ts) and the settings command of the contract. One rule each, one message.
 */
import { z } from 'zod';
import { interfaceNameProblem } from './interface-name.ts';
import { parseCidr, parsePrivateCidr } from './subnet.ts';

/** An IPv4 subnet in CIDR form, checked by parseCidr (which names the value and what is allowed). */
export const subnetText = z.string().superRefine((value, ctx) => {
  try {
    parseCidr(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
  }
});

/** An endpoint subnet for root and helper mode: a CIDR inside a private range (see PRIVATE_RANGES). */
export const privateSubnetText = z.string().superRefine((value, ctx) => {
  try {
    parsePrivateCidr(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
  }
});

/** A network interface name valid on Linux and macOS. */
export const interfaceNameText = z.string().superRefine((value, ctx) => {
  const problem = interfaceNameProblem(value);
  if (problem !== null)
    ctx.addIssue({
      code: 'custom',
      message: `must be 1-15 characters of letters, digits, "_", "." and "-" (${problem})`,
    });
});

/**
 * `HOST:PORT` on a loopback address (127.0.0.0/8, `[::1]` or `localhost`), e.g. the metrics
 * endpoint: nothing ngrokd serves without authentication may be reachable from the network.
 * Returns the parts, or a sentence naming the value and what is allowed.
 */
export function parseLoopbackAddress(text: string): { host: string; port: number } | string {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const allowed = 'a loopback HOST:PORT such as 127.0.0.1:9107 or [::1]:9107';
  if (match === null) return `${JSON.stringify(text)} is not HOST:PORT (use ${allowed})`;
  const host = (match[1] ?? match[2] ?? '').toLowerCase();
  const port = Number(match[3]);
  if (port > 65_535) return `port ${port} in ${JSON.stringify(text)} is not 0-65535 (0: any free port)`;
  // A literal address only (never a name a resolver could answer with anything): localhost, ::1,
  // or a dotted quad inside 127.0.0.0/8 with every part 0-255.
  const quad = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  const loopback =
    host === 'localhost' || host === '::1' || (quad !== null && quad.slice(1).every((p) => Number(p) <= 255));
  if (!loopback)
    return `${JSON.stringify(host)} is not a loopback address: the metrics have no authentication, so only ${allowed} is allowed`;
  return { host, port };
}

export const loopbackAddressText = z.string().superRefine((value, ctx) => {
  const parsed = parseLoopbackAddress(value);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});
