/**
 * One request of the contract, validated and answered: shared by every transport (the control
 * socket, the browser UI's HTTP bridge and Electron IPC), so a command is one entry in the contract
 * and nothing else. A `subscribe` request names an event of the contract; the transport that can
 * push events serves it (subscribing to the state feed) and its first event is the reply.
 */
import {
  CONTROL_PROTOCOL_VERSION,
  SUBSCRIBE_METHOD,
  commands,
  isCommandName,
  subscribeParams,
  type CommandHandlers,
  type ControlResponse,
  type EventData,
  type EventName,
} from '../common/contract.ts';
import { NgrokdError, toUserFacing } from '../common/errors.ts';

export function protocolError(message: string): NgrokdError {
  return new NgrokdError(
    'PROTOCOL_ERROR',
    message,
    `Send {"v":${CONTROL_PROTOCOL_VERSION},"id":N,"method":M,"params":{}}.`,
  );
}

/** A validated `subscribe`: which event, and at most how often (undefined: the transport's default). */
export interface SubscribeRequest {
  event: EventName;
  intervalMs: number | undefined;
}

/** What a transport that pushes events adds to dispatch: it subscribes and returns the first event's data. */
export interface EventTransport {
  subscribe(request: SubscribeRequest): Promise<EventData<EventName>> | EventData<EventName>;
}

function invalidParams(method: string, issues: readonly { message: string }[]): NgrokdError {
  return protocolError(`invalid params for ${method}: ${issues.map((i) => i.message).join('; ')}`);
}

/**
 * Validate and answer one request: a command through its handler, a `subscribe` through the
 * transport's event stream (refused by a transport that has none). Errors are answered as values.
 */
export async function dispatch(
  handlers: CommandHandlers,
  raw: unknown,
  transport?: EventTransport,
): Promise<ControlResponse> {
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
    if (request.method === SUBSCRIBE_METHOD) {
      const parsed = subscribeParams.safeParse(request.params ?? {});
      if (!parsed.success) throw invalidParams(SUBSCRIBE_METHOD, parsed.error.issues);
      if (transport === undefined)
        throw new NgrokdError(
          'PROTOCOL_ERROR',
          'subscribe is not served on this transport: it has no event stream',
          'Subscribe on the control socket or in the desktop app; the browser UI reads GET /api/events.',
        );
      const { event = 'state', intervalMs } = parsed.data;
      return { v, id, result: await transport.subscribe({ event, intervalMs }) };
    }
    if (typeof request.method !== 'string' || !isCommandName(request.method))
      throw protocolError(
        `unknown method ${JSON.stringify(request.method)} (allowed: ${[...Object.keys(commands), SUBSCRIBE_METHOD].join(', ')})`,
      );
    const method = request.method;
    const parsed = commands[method].params.safeParse(request.params ?? {});
    if (!parsed.success) throw invalidParams(method, parsed.error.issues);
    const handler = handlers[method] as (p: unknown) => unknown;
    return { v, id, result: await handler(parsed.data) };
  } catch (err) {
    return { v, id, error: toUserFacing(err, 'PROTOCOL_ERROR') };
  }
}
