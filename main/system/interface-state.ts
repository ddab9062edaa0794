/**
 * Whether a network interface is administratively up, read-only, for `doctor`. Linux reads the
 * IFF_UP bit of /sys/class/net/<name>/flags; elsewhere (macOS: a utun is up while its process
 * holds it) the answer is null, "cannot tell".
 */
import { readFileSync } from 'node:fs';
import { validateInterfaceName } from '../common/interface-name.ts';

const IFF_UP = 0x1;

export function interfaceUp(name: string, platform: NodeJS.Platform = process.platform): boolean | null {
  if (platform !== 'linux') return null;
  validateInterfaceName(name);
  try {
    return (Number.parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'ascii').trim(), 16) & IFF_UP) !== 0;
  } catch {
    return null;
  }
}
