/**
 * Errors of the WebSocket transport that callers act on differently: a
 * refused upgrade (auth, rate limit: back off, maybe stop) versus a stalled
 * one (retry).
 */
import { TunnelError } from '../shared/errors.js';

/** Most bytes of a refused upgrade's response body kept on the error. */
export const MAX_REJECTION_BODY_BYTES = 4096;

/** The server answered the upgrade with a non-101 status (401, 403, 429 ...). */
export class HandshakeRejectedError extends TunnelError {
  declare readonly code: 'ERR_TRANSPORT_HANDSHAKE_REJECTED';
  /** HTTP status of the refusal. */
  readonly statusCode: number;
  /** Response body as text, at most `MAX_REJECTION_BODY_BYTES` bytes of it. */
  readonly body: string;
  /** Response headers, lower-cased names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;

  constructor(statusCode: number, body: string, headers: Readonly<Record<string, string | string[] | undefined>> = {}) {
    super('ERR_TRANSPORT_HANDSHAKE_REJECTED', `WebSocket upgrade rejected (status: ${statusCode})`);
    this.statusCode = statusCode;
    this.body = body;
    this.headers = headers;
  }
}

/** The upgrade did not complete within `handshakeTimeoutMs`. */
export class HandshakeTimeoutError extends TunnelError {
  declare readonly code: 'ERR_TRANSPORT_HANDSHAKE_TIMEOUT';
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super('ERR_TRANSPORT_HANDSHAKE_TIMEOUT', `WebSocket upgrade timed out (timeout: ${timeoutMs}ms)`);
    this.timeoutMs = timeoutMs;
  }
}

/** True when `err` is a `HandshakeRejectedError`. */
export function isHandshakeRejectedError(err: unknown): err is HandshakeRejectedError {
  return err instanceof HandshakeRejectedError;
}
