/** The two sections the crash tests alternate between (a large one and a small one), and the states a file may be in. */
import { readFileSync, writeFileSync } from 'node:fs';
import type { HostsEntry } from '../../../main/common/privileged.ts';
import { HostsSection } from '../../../main/system/hosts-file.ts';

const large: HostsEntry[] = Array.from({ length: 5000 }, (_, i) => ({
  ip: `10.107.${(i + 2) >> 8}.${(i + 2) & 255}`,
  hostname: `service-number-${i}.crash.test`,
}));
const small: HostsEntry[] = [{ ip: '10.107.0.2', hostname: 'my-api.ngrok.app' }];

export const CRASH_SETS: HostsEntry[][] = [large, small];
export const CRASH_USER_LINES =
  '127.0.0.1 localhost\r\n# printer\r\n192.168.1.20\tprinter.lan\r\n::1 ip6-localhost';

/** The exact bytes of every state the file may be in, computed with the same code on `scratch`. */
export async function allowedStates(scratch: string): Promise<Set<string>> {
  const allowed = new Set<string>([CRASH_USER_LINES]);
  for (const set of CRASH_SETS) {
    writeFileSync(scratch, CRASH_USER_LINES);
    await new HostsSection({
      path: scratch,
      interfaceName: 'ngrokd0',
      subnet: '10.107.0.0/16',
      watchIntervalMs: 0,
    }).setHosts(set);
    allowed.add(readFileSync(scratch, 'latin1'));
  }
  return allowed;
}
