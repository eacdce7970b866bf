/**
 * Typed errors with stable codes. Callers branch on `instanceof` or `code`,
 * never on message text. Messages put the offending value last, without a
 * trailing period.
 */

/** Every error code the project emits, prefixed by layer. */
export type TunnelErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_ABORTED'
  | 'ERR_TIMEOUT'
  | 'ERR_MUX_PROTOCOL'
  | 'ERR_MUX_STREAM_RESET'
  | 'ERR_MUX_SESSION_CLOSED'
  | 'ERR_MUX_GO_AWAY'
  | 'ERR_MUX_KEEPALIVE_TIMEOUT'
  | 'ERR_MUX_STREAM_OPEN_TIMEOUT'
  | 'ERR_MUX_STREAMS_EXHAUSTED'
  | 'ERR_MUX_BACKLOG_FULL'
  | 'ERR_TRANSPORT_DIAL_FAILED'
  | 'ERR_TRANSPORT_HANDSHAKE_TIMEOUT'
  | 'ERR_TRANSPORT_HANDSHAKE_REJECTED'
  | 'ERR_TRANSPORT_CLOSED'
  | 'ERR_TRANSPORT_PROTOCOL'
  | 'ERR_AGENT_AUTH_REJECTED'
  | 'ERR_AGENT_ENDPOINT_NOT_FOUND'
  | 'ERR_AGENT_DIAL_FAILED'
  | 'ERR_AGENT_RELAY_MOVED'
  | 'ERR_AGENT_RELAY_ELSEWHERE'
  | 'ERR_AGENT_LOCAL_UNREACHABLE'
  | 'ERR_AGENT_LOCAL_REFUSED'
  | 'ERR_AGENT_LOCAL_TIMEOUT'
  | 'ERR_AGENT_LOCAL_RESET'
  | 'ERR_AGENT_LOCAL_BAD_RESPONSE'
  | 'ERR_AGENT_HEADERS_TOO_LARGE'
  | 'ERR_AGENT_BAD_REQUEST'
  | 'ERR_ROUTE_BAD_HOST'
  | 'ERR_ROUTE_BAD_PATH'
  | 'ERR_ROUTE_BAD_AGENT'
  | 'ERR_ROUTE_NO_AGENT'
  | 'ERR_ROUTE_PATH_ROUTING_DISABLED'
  | 'ERR_RELAY_TUNNEL_NOT_FOUND'
  | 'ERR_RELAY_AGENT_OFFLINE'
  | 'ERR_RELAY_AGENT_BUSY'
  | 'ERR_RELAY_UPSTREAM_TIMEOUT'
  | 'ERR_RELAY_BAD_GATEWAY'
  | 'ERR_RELAY_SHUTTING_DOWN'
  | 'ERR_RELAY_HEADERS_TOO_LARGE'
  | 'ERR_RELAY_BAD_REQUEST'
  | 'ERR_RELAY_REQUEST_TIMEOUT'
  | 'ERR_RELAY_TOKEN_MISSING'
  | 'ERR_RELAY_TOKEN_INVALID'
  | 'ERR_RELAY_RATE_LIMITED'
  | 'ERR_ADMIN_UNAUTHORIZED'
  | 'ERR_ADMIN_DISABLED'
  | 'ERR_ADMIN_NOT_FOUND'
  | 'ERR_ADMIN_METHOD_NOT_ALLOWED'
  | 'ERR_ADMIN_BAD_REQUEST'
  | 'ERR_ADMIN_BODY_TOO_LARGE'
  | 'ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_ADMIN_INTERNAL'
  | 'ERR_ADMIN_SESSION_REQUIRED'
  | 'ERR_ADMIN_CSRF_REJECTED'
  | 'ERR_ADMIN_BUSY'
  | 'ERR_ACCESS_DENIED'
  | 'ERR_ACCESS_CREDENTIALS_REQUIRED'
  | 'ERR_ACCESS_BAD_CREDENTIALS'
  | 'ERR_ACCESS_TOKEN_EXPIRED'
  | 'ERR_ACCESS_WRONG_AGENT'
  | 'ERR_ACCESS_POLICY_INVALID'
  | 'ERR_STORE'
  | 'ERR_STORE_SCHEMA_TOO_NEW'
  | 'ERR_STORE_INVALID_AGENT_NAME'
  | 'ERR_STORE_INVALID_INPUT'
  | 'ERR_STORE_NOT_FOUND'
  | 'ERR_STORE_CONFLICT'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_RELAY_STORE_UNAVAILABLE'
  | 'ERR_RELAY_AGENT_CONFLICT'
  | 'ERR_CLUSTER_PEER_AUTH'
  | 'ERR_CLUSTER_PEER_UNREACHABLE'
  | 'ERR_CLUSTER_PEER_PROTOCOL'
  | 'ERR_CLUSTER_NOT_HERE'
  | 'ERR_RELAY_DRAINING'
  | 'ERR_RELAY_LINK_ON_THIS_NODE'
  | 'ERR_ADMIN_DRAIN_UNSUPPORTED';

/** Base class of every error the project throws on purpose. */
export class TunnelError extends Error {
  readonly code: TunnelErrorCode;

  constructor(code: TunnelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option failed validation; the message names the field and the bad value. */
export class ConfigError extends TunnelError {
  readonly field: string;

  constructor(field: string, reason: string, value: unknown) {
    super('ERR_CONFIG_INVALID', `Invalid option ${field}: ${reason} (got: ${describeValue(value)})`);
    this.field = field;
  }
}

/** An operation was cancelled through its AbortSignal. */
export class AbortError extends TunnelError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super('ERR_ABORTED', message, options);
  }
}

/** An operation did not finish within its time limit. */
export class TimeoutError extends TunnelError {
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number) {
    super('ERR_TIMEOUT', `${what} timed out (timeout: ${timeoutMs}ms)`);
    this.timeoutMs = timeoutMs;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

/** True when `err` is a Node system error with the given `code` (ECONNREFUSED ...). */
export function isSystemError(err: unknown, code?: string): err is NodeJS.ErrnoException {
  if (!(err instanceof Error)) return false;
  const c = (err as NodeJS.ErrnoException).code;
  return typeof c === 'string' && (code === undefined || c === code);
}
