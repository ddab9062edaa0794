/**
 * The logging interface code below the engine takes (the helper, its client, OS code): structured
 * fields first, then the message, as pino does. The engine's pino logger satisfies it; nothing
 * below the engine imports pino's types or the engine's logger.
 */
export interface StructuredLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
