/** Child for hosts-crash.test.ts: rewrite the section back and forth until killed. */
import { HostsSection } from '../../../main/system/hosts-file.ts';
import { CRASH_SETS } from './hosts-sets.ts';

const path = process.argv[2] as string;
const hosts = new HostsSection({ path, interfaceName: 'ngrokd0', subnet: '10.107.0.0/16' });
process.stdout.write('ready\n');
for (let i = 0; ; i++) await hosts.setHosts(CRASH_SETS[i % CRASH_SETS.length] ?? []);
