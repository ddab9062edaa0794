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
