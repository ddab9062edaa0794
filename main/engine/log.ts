/**
 * Structured, quiet-by-default logging: JSON lines on stderr, `warn` unless configured otherwise.
 * Secrets are redacted by key name as a second line of defence; the code never passes them in.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACTED_KEYS = [
  'apiKey',
  'api_key',
  'key',
  'keyPem',
  'authorization',
  'Authorization',
  'csr',
  'privateKey',
];

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    {
      level,
      base: { app: 'ngrokd' },
      redact: { paths: [...REDACTED_KEYS, ...REDACTED_KEYS.map((k) => `*.${k}`)], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = pino({ level: 'silent' });
