/**
 * The agent's connection as a plain JSON value, for a status page, the CLI's
 * console and health checks.
 */
import { TunnelError } from '../shared/errors.js';

/** Where the agent's connection to the relay is. */
export type ConnectionState = 'idle' | 'connecting' | 'online' | 'reconnecting' | 'stopped';

/** Every `ConnectionState`, in lifecycle order. */
export const CONNECTION_STATES: readonly ConnectionState[] = Object.freeze(['idle', 'connecting', 'online', 'reconnecting', 'stopped']);

/** Why the last dial or session failed, JSON-safe. */
export interface ConnectionErrorInfo {
  message: string;
  /** A stable code: `ERR_AGENT_AUTH_REJECTED`, `ERR_MUX_KEEPALIVE_TIMEOUT`, `ERR_TRANSPORT_CLOSED` ...; `ERR_AGENT_DIAL_FAILED` when the error had none. */
  code: string;
  /** HTTP status of a refused upgrade. */
  statusCode?: number;
  /** WebSocket close code of a lost connection. */
  closeCode?: number;
  /** GoAway code the relay sent. */
  goAwayCode?: number;
  /** What a person should do, for refusals that do not fix themselves (wrong token, wrong path). */
  hint?: string;
}

/** A snapshot of the connection and its counters; plain JSON. */
export interface ConnectionStatus {
  state: ConnectionState;
  /** The current (or last) dial attempt; 0 while online or before the first dial. */
  attempt: number;
  lastError: ConnectionErrorInfo | null;
  /** When the next dial is due (Unix ms), while waiting for it. */
  nextRetryAt: number | null;
  /** When `state` was entered (Unix ms). */
  since: number;
  /** Round-trip time of the last answered keepalive ping, in milliseconds. */
  lastPingRttMs: number | null;
  /** Requests the local forwarder finished. */
  requestsServed: number;
  /** Request bytes received from visitors through the relay. */
  bytesIn: number;
  /** Response bytes sent back to visitors through the relay. */
  bytesOut: number;
  /** Streams being served right now. */
  activeStreams: number;
  /**
   * The URL visitors reach this agent at, as the relay announced it on the
   * current (or last) session (`X-Tunnel-Public-Url`); absent when it did not
   * (the Go relay never does).
   */
  publicUrl?: string;
  /** Every HA link of the agent (one unless `links` asked for more), each with its own state. */
  links?: LinkStatus[];
}

/** One HA link of the agent; plain JSON. */
export interface LinkStatus {
  /** The link index (0 first), sent to our relay as `X-Tunnel-Link`. */
  index: number;
  state: ConnectionState;
  /** When `state` was entered (Unix ms). */
  since: number;
  attempt: number;
  lastError: ConnectionErrorInfo | null;
  nextRetryAt: number | null;
  /** The relay node it is on (`X-Tunnel-Node` of our relay), null while offline or on the Go relay. */
  node: string | null;
  /** The relay URL of its session or next dial, credentials redacted. */
  relayUrl: string | null;
  /** RTT of its last answered keepalive ping, in milliseconds. */
  rttMs: number | null;
}

/** `err` as a `ConnectionErrorInfo`, keeping its code and the statuses callers act on. */
export function describeConnectionError(err: Error): ConnectionErrorInfo {
  const info: ConnectionErrorInfo = {
    message: err.message,
    code: err instanceof TunnelError ? err.code : 'ERR_AGENT_DIAL_FAILED',
  };
  const fields = err as unknown as { statusCode?: unknown; closeCode?: unknown; goAwayCode?: unknown; hint?: unknown };
  if (typeof fields.statusCode === 'number') info.statusCode = fields.statusCode;
  if (typeof fields.closeCode === 'number') info.closeCode = fields.closeCode;
  if (typeof fields.goAwayCode === 'number') info.goAwayCode = fields.goAwayCode;
  if (typeof fields.hint === 'string') info.hint = fields.hint;
  return info;
}
