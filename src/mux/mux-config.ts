/**
 * Session configuration: options, validated defaults, and the resolver.
 */
import { systemClock, type Clock } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { requireInt } from '../shared/validate.js';
import { INITIAL_STREAM_WINDOW_BYTES } from './constants.js';

/** Which end of the session: the client opens odd stream ids, the server even ones. */
export type SessionRole = 'client' | 'server';

/** A resolved session configuration; every field set. */
export interface MuxConfig {
  role: SessionRole;
  /** Receive window per stream; at least 256 KiB (spec.md initial window). Larger windows are advertised with window updates. */
  maxStreamWindowBytes: number;
  /** Interval between keepalive pings; 0 turns keepalive off. */
  keepAliveIntervalMs: number;
  /** A keepalive ping unanswered for this long closes the session. */
  keepAliveTimeoutMs: number;
  /** An opened stream not acknowledged for this long is reset; 0 turns it off. */
  streamOpenTimeoutMs: number;
  /** Inbound streams waiting for `accept()`; over it, new streams are reset. */
  acceptBacklog: number;
  /** Open streams (both directions) at most; over it, new inbound streams are reset. */
  maxStreams: number;
  /** Largest Data frame payload we send; larger writes are split. */
  maxFramePayloadBytes: number;
  /** Bytes buffered in the transport beyond which the session gives up on a peer that does not read (ping floods). */
  maxTransportBufferBytes: number;
  /** Default grace for `close()` to let open streams finish. */
  closeGraceMs: number;
  logger: Logger;
  clock: Clock;
}

/** User options for a session; everything but `role` optional. */
export type SessionOptions = Partial<MuxConfig> & { role: SessionRole };

/** Defaults (hashicorp's where it has them; keepalive as the Go client uses it). */
export const DEFAULT_MUX_CONFIG: Readonly<Omit<MuxConfig, 'role'>> = Object.freeze({
  maxStreamWindowBytes: INITIAL_STREAM_WINDOW_BYTES,
  keepAliveIntervalMs: 10_000,
  keepAliveTimeoutMs: 15_000,
  streamOpenTimeoutMs: 30_000,
  acceptBacklog: 256,
  maxStreams: 8192,
  maxFramePayloadBytes: 256 * 1024,
  maxTransportBufferBytes: 64 * 1024 * 1024,
  closeGraceMs: 10_000,
  logger: noopLogger,
  clock: systemClock,
});

/** Merges `options` over the defaults and validates; throws `ConfigError` naming the field. */
export function resolveMuxConfig(options: SessionOptions): Readonly<MuxConfig> {
  const c = { ...DEFAULT_MUX_CONFIG, ...stripUndefined(options), role: options.role } as MuxConfig;
  if (c.role !== 'client' && c.role !== 'server') throw new ConfigError('role', 'must be client or server', c.role);
  requireInt('maxStreamWindowBytes', c.maxStreamWindowBytes, INITIAL_STREAM_WINDOW_BYTES, 0x7fff_ffff);
  requireInt('keepAliveIntervalMs', c.keepAliveIntervalMs, 0);
  requireInt('keepAliveTimeoutMs', c.keepAliveTimeoutMs, 1);
  if (c.keepAliveIntervalMs > 0 && c.keepAliveTimeoutMs <= c.keepAliveIntervalMs) {
    throw new ConfigError('keepAliveTimeoutMs', `must be greater than keepAliveIntervalMs (${c.keepAliveIntervalMs})`, c.keepAliveTimeoutMs);
  }
  requireInt('streamOpenTimeoutMs', c.streamOpenTimeoutMs, 0);
  requireInt('acceptBacklog', c.acceptBacklog, 1);
  requireInt('maxStreams', c.maxStreams, 1);
  requireInt('maxFramePayloadBytes', c.maxFramePayloadBytes, 1024, 16 * 1024 * 1024);
  requireInt('maxTransportBufferBytes', c.maxTransportBufferBytes, 64 * 1024);
  requireInt('closeGraceMs', c.closeGraceMs, 0);
  return Object.freeze(c);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
