/**
 * Why the local service could not be reached, as a stable code for the
 * `X-Tunnel-Error` header of the agent's `502`, the logs and the metrics.
 */
import { TunnelError } from '../shared/errors.js';

/** Codes for a failed exchange with the local service. */
export type LocalServiceErrorCode =
  | 'ERR_AGENT_LOCAL_REFUSED'
  | 'ERR_AGENT_LOCAL_TIMEOUT'
  | 'ERR_AGENT_LOCAL_RESET'
  | 'ERR_AGENT_LOCAL_BAD_RESPONSE'
  | 'ERR_AGENT_LOCAL_UNREACHABLE';

/** The local service refused, timed out, reset, answered something that is not HTTP, or could not be reached. */
export class LocalServiceError extends TunnelError {
  declare readonly code: LocalServiceErrorCode;

  constructor(code: LocalServiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The system error codes carried by `err` and, for an `AggregateError` (one per address tried), by its members. */
function systemCodes(err: unknown): string[] {
  const codes: string[] = [];
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string') codes.push(code);
  }
  if (err instanceof AggregateError) {
    for (const e of err.errors) codes.push(...systemCodes(e));
  }
  return codes;
}

/**
 * The code for an error from a connection to the local service:
 * ECONNREFUSED -> REFUSED; our connect timer or ETIMEDOUT -> TIMEOUT;
 * ECONNRESET or EPIPE (incl. Node's "socket hang up") -> RESET; an HTTP
 * parse error of the response (`HPE_*`) -> BAD_RESPONSE; anything else
 * (EHOSTUNREACH, ENOTFOUND, ...) -> UNREACHABLE.
 */
export function classifyLocalError(err: unknown): LocalServiceErrorCode {
  if (err instanceof LocalServiceError) return err.code;
  const codes = systemCodes(err);
  if (codes.includes('ECONNREFUSED')) return 'ERR_AGENT_LOCAL_REFUSED';
  if (codes.includes('ETIMEDOUT')) return 'ERR_AGENT_LOCAL_TIMEOUT';
  if (codes.includes('ECONNRESET') || codes.includes('EPIPE')) return 'ERR_AGENT_LOCAL_RESET';
  if (codes.some((code) => code.startsWith('HPE_'))) return 'ERR_AGENT_LOCAL_BAD_RESPONSE';
  return 'ERR_AGENT_LOCAL_UNREACHABLE';
}

/** The short text body of the agent's `502` for each code (shown to visitors: no addresses). */
export const LOCAL_ERROR_MESSAGES: Readonly<Record<LocalServiceErrorCode, string>> = {
  ERR_AGENT_LOCAL_REFUSED: 'Bad Gateway: the local service refused the connection',
  ERR_AGENT_LOCAL_TIMEOUT: 'Bad Gateway: the local service did not accept the connection in time',
  ERR_AGENT_LOCAL_RESET: 'Bad Gateway: the local service closed the connection before responding',
  ERR_AGENT_LOCAL_BAD_RESPONSE: 'Bad Gateway: the local service sent an invalid HTTP response',
  ERR_AGENT_LOCAL_UNREACHABLE: 'Bad Gateway: the local service is unreachable',
};
