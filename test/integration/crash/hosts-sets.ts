/** The two sections the crash test alternates between: a large one and a small one. */
import type { HostsEntry } from '../../../main/common/privileged.ts';

const large: HostsEntry[] = Array.from({ length: 5000 }, (_, i) => ({
  ip: `10.107.${(i + 2) >> 8}.${(i + 2) & 255}`,
  hostname: `service-number-${i}.crash.test`,
}));
const small: HostsEntry[] = [{ ip: '10.107.0.2', hostname: 'my-api.ngrok.app' }];

export const CRASH_SETS: HostsEntry[][] = [large, small];
