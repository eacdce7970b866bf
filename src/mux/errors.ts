/**
 * Errors of the yamux layer, each with a stable code.
 */
import { TunnelError } from '../shared/errors.js';
import { GoAwayCode, goAwayCodeName } from './constants.js';

/** The peer broke the protocol; the session answers with GoAway(`goAwayCode`). */
export class MuxProtocolError extends TunnelError {
  declare readonly code: 'ERR_MUX_PROTOCOL';
  readonly goAwayCode: GoAwayCode;

  constructor(message: string, goAwayCode: GoAwayCode = GoAwayCode.ProtocolError) {
    super('ERR_MUX_PROTOCOL', message);
    this.goAwayCode = goAwayCode;
  }
}

/** A stream was reset (RST) by the peer. */
export class StreamResetError extends TunnelError {
  declare readonly code: 'ERR_MUX_STREAM_RESET';
  readonly streamId: number;

  constructor(streamId: number) {
    super('ERR_MUX_STREAM_RESET', `Stream reset by peer (stream: ${streamId})`);
    this.streamId = streamId;
  }
}

/** The session is closed (or closing); `cause` says why when known. */
export class SessionClosedError extends TunnelError {
  declare readonly code: 'ERR_MUX_SESSION_CLOSED';
  constructor(message = 'Session closed', options?: { cause?: unknown }) {
    super('ERR_MUX_SESSION_CLOSED', message, options);
  }
}

/** The peer sent GoAway: no new streams, and for a non-normal code the session ends. */
export class GoAwayError extends TunnelError {
  declare readonly code: 'ERR_MUX_GO_AWAY';
  readonly goAwayCode: number;

  constructor(goAwayCode: number) {
    super('ERR_MUX_GO_AWAY', `Peer sent GoAway (code: ${goAwayCode}, ${goAwayCodeName(goAwayCode)})`);
    this.goAwayCode = goAwayCode;
  }
}

/** A keepalive ping was not answered in time; the session is closed. */
export class KeepAliveTimeoutError extends TunnelError {
  declare readonly code: 'ERR_MUX_KEEPALIVE_TIMEOUT';
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super('ERR_MUX_KEEPALIVE_TIMEOUT', `Keepalive ping not answered (timeout: ${timeoutMs}ms)`);
    this.timeoutMs = timeoutMs;
  }
}

/** An opened stream was never acknowledged (no ACK) in time; it is reset. */
export class StreamOpenTimeoutError extends TunnelError {
  declare readonly code: 'ERR_MUX_STREAM_OPEN_TIMEOUT';
  readonly streamId: number;

  constructor(streamId: number, timeoutMs: number) {
    super('ERR_MUX_STREAM_OPEN_TIMEOUT', `Stream not acknowledged (stream: ${streamId}, timeout: ${timeoutMs}ms)`);
    this.streamId = streamId;
  }
}
