/**
 * Child for the crash tests: rewrite the section back and forth until killed.
 *   node hosts-writer.ts HOSTS_PATH [JOURNAL_DIR]
 * With JOURNAL_DIR a file that cannot be replaced by rename (a bind mount) is rewritten in place.
 */
import { HostsSection } from '../../../main/system/hosts-file.ts';
import { CRASH_SETS } from './hosts-sets.ts';

const path = process.argv[2] as string;
const journalDir = process.argv[3];
const hosts = new HostsSection({
  path,
  interfaceName: 'ngrokd0',
  subnet: '10.107.0.0/16',
  watchIntervalMs: 0,
  ...(journalDir === undefined ? {} : { journalDir }),
});
process.stdout.write('ready\n');
for (let i = 0; ; i++) await hosts.setHosts(CRASH_SETS[i % CRASH_SETS.length] ?? []);
