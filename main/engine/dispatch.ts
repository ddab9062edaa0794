/**
 * One request of the contract, validated and run: shared by every transport (the control socket,
 * the browser UI's HTTP bridge and Electron IPC), so a command is one entry in the contract and
 * nothing else.
 */
import {
  CONTROL_PROTOCOL_VERSION,
  commands,
  isCommandName,
  type CommandHandlers,
  type ControlResponse,
  type StateSnapshot,
} from '../common/contract.ts';
import { NgrokdError, toUserFacing } from '../common/errors.ts';

export function protocolError(message: string): NgrokdError {
  return new NgrokdError(
    'PROTOCOL_ERROR',
    message,
    `Send {"v":${CONTROL_PROTOCOL_VERSION},"id":N,"method":M,"params":{}}.`,
  );
}

export interface Subscribable {
  snapshot(): StateSnapshot;
}

/**
 * Validate and run one request. Returns the response, or a subscription request for the caller
 * to service. Shared by every transport.
 */
export async function dispatch(
  handlers: CommandHandlers,
  raw: unknown,
): Promise<{ response: ControlResponse; subscribeMs?: number }> {
  const request = raw as { v?: unknown; id?: unknown; method?: unknown; params?: unknown };
  const id = typeof request?.id === 'number' && Number.isSafeInteger(request.id) ? request.id : 0;
  const v = CONTROL_PROTOCOL_VERSION;
  try {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw protocolError('request is not a JSON object');
    if (request.v !== v)
      throw protocolError(
        `protocol version ${JSON.stringify(request.v)} is not supported (this daemon speaks ${v})`,
      );
    if (typeof request.method !== 'string' || !isCommandName(request.method))
      throw protocolError(
        `unknown method ${JSON.stringify(request.method)} (allowed: ${Object.keys(commands).join(', ')})`,
      );
    const method = request.method;
    const parsed = commands[method].params.safeParse(request.params ?? {});
    if (!parsed.success)
      throw protocolError(
        `invalid params for ${method}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      );
    const handler = handlers[method] as (p: unknown) => unknown;
    const result = await handler(parsed.data);
    if (method === 'subscribe') {
      const params = parsed.data as { intervalMs?: number };
      return { response: { v, id, result }, subscribeMs: params.intervalMs ?? 1000 };
    }
    return { response: { v, id, result } };
  } catch (err) {
    return { response: { v, id, error: toUserFacing(err, 'PROTOCOL_ERROR') } };
  }
}
