/**
 * `ngrokd requests` and `ngrokd replay`: the request inspector from a terminal.
 *   requests [--endpoint HOST] [--limit N] [--json]   the recent requests, oldest first
 *   requests --follow [--json]                         new requests as they complete (NDJSON with --json)
 *   requests --har FILE                                the recent requests as a HAR 1.2 file
 *   replay ID                                          send a captured request again
 */
import { writeFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import type { RequestDetail, RequestRecord } from '../common/contract.ts';
import { NgrokdError } from '../common/errors.ts';
import { toHar } from '../common/har.ts';
import { VERSION } from '../engine/version.ts';
import { callDaemon } from './control-client.ts';
import { formatBytes } from './format.ts';

interface RequestsOptions {
  config?: string;
  socket?: string;
  endpoint?: string;
  limit?: string;
  json?: boolean;
  follow?: boolean;
  har?: string;
}

export interface RequestsCommandContext {
  configOption: Option;
  socketOption: Option;
  /** The control socket for these options (config file, --socket). */
  socketPath(opts: { config?: string; socket?: string }): string;
}

/** How long one `--follow` long poll waits on the daemon before asking again. */
const FOLLOW_WAIT_MS = 25_000;

function positiveInteger(text: string, what: string): number {
  if (/^[0-9]{1,9}$/.test(text) && Number(text) > 0) return Number(text);
  throw new NgrokdError(
    'CONFIG_INVALID',
    `${what} ${JSON.stringify(text)} is not a positive whole number`,
    `Pass a number such as 20 (see \`npm run ngrokd -- requests --help\`).`,
  );
}

export function formatRequest(r: RequestRecord): string {
  const time = r.ts.slice(11, 23);
  const status = r.status === null ? '---' : String(r.status);
  const duration = r.duration_ms === null ? '-' : `${Math.round(r.duration_ms)} ms`;
  const notes = [
    r.kind === 'http' ? '' : r.kind,
    r.error ?? '',
    r.replay_of === null ? '' : `replay of ${r.replay_of}`,
  ]
    .filter((n) => n !== '')
    .join(', ');
  return [
    String(r.id).padStart(6),
    time,
    r.endpoint.padEnd(24),
    r.method.padEnd(7),
    status,
    duration.padStart(8),
    formatBytes(r.bytes_in).padStart(9),
    `${r.path}${notes === '' ? '' : `  (${notes})`}`,
  ].join('  ');
}

export const REQUESTS_HEADER = `${'ID'.padStart(6)}  ${'TIME'.padEnd(12)}  ${'ENDPOINT'.padEnd(24)}  ${'METHOD'.padEnd(7)}  ${'STA'}  ${'DURATION'.padStart(8)}  ${'SIZE'.padStart(9)}  PATH`;

export function registerRequestsCommands(program: Command, context: RequestsCommandContext): void {
  program
    .command('requests')
    .description('show the requests the inspector saw on http endpoints (oldest first)')
    .addOption(context.configOption)
    .addOption(context.socketOption)
    .option('-e, --endpoint <host>', 'only this endpoint (hostname or URL)')
    .option('-n, --limit <n>', 'only the newest N')
    .option('-f, --follow', 'keep printing requests as they complete (NDJSON with --json)')
    .option('--har <file>', 'write them to FILE as HAR 1.2 (bodies included when captured)')
    .option('--json', 'machine-readable output')
    .action(async (opts: RequestsOptions) => {
      const socketPath = context.socketPath(opts);
      const query = {
        ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
        ...(opts.limit === undefined ? {} : { limit: positiveInteger(opts.limit, '--limit') }),
      };
      // Like `tail -f`, a follow starts with the last few.
      const initial = opts.follow === true && query.limit === undefined ? { ...query, limit: 10 } : query;
      const records = await callDaemon(socketPath, 'requests', initial);
      if (opts.har !== undefined) {
        const details: RequestDetail[] = [];
        for (const r of records) {
          // A request dropped from memory since the list is simply not exported.
          const detail = await callDaemon(socketPath, 'request', { id: r.id }).catch(() => null);
          if (detail !== null) details.push(detail);
        }
        writeFileSync(opts.har, `${JSON.stringify(toHar(details, VERSION), null, 2)}\n`, { mode: 0o600 });
        process.stdout.write(`Wrote ${details.length} requests to ${opts.har} (HAR 1.2).\n`);
        return;
      }
      if (opts.follow !== true) {
        if (opts.json === true) process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
        else if (records.length === 0) process.stdout.write('No requests recorded yet.\n');
        else process.stdout.write(`${[REQUESTS_HEADER, ...records.map(formatRequest)].join('\n')}\n`);
        return;
      }
      const print = (r: RequestRecord): void => {
        process.stdout.write(`${opts.json === true ? JSON.stringify(r) : formatRequest(r)}\n`);
      };
      if (opts.json !== true) process.stdout.write(`${REQUESTS_HEADER}\n`);
      records.forEach(print);
      let after = records.at(-1)?.id ?? 0;
      for (;;) {
        const next = await callDaemon(
          socketPath,
          'requests',
          {
            ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
            after,
            wait_ms: FOLLOW_WAIT_MS,
          },
          FOLLOW_WAIT_MS + 10_000,
        );
        next.forEach(print);
        after = next.at(-1)?.id ?? after;
      }
    });

  program
    .command('replay')
    .description('send a captured request again (needs inspect.bodies: true when it was made)')
    .argument('<id>', 'the request id, as `requests` shows it')
    .addOption(context.configOption)
    .addOption(context.socketOption)
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: RequestsOptions) => {
      const record = await callDaemon(
        context.socketPath(opts),
        'replay',
        { id: positiveInteger(id, 'request id') },
        40_000,
      );
      if (opts.json === true) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      else
        process.stdout.write(
          `Replayed request ${id} as request ${record.id}:\n${REQUESTS_HEADER}\n${formatRequest(record)}\n`,
        );
    });
}
