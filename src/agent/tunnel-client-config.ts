/**
 * Tunnel client configuration: options, validated defaults, and the resolver.
 * Defaults follow the Go client (keepalive every 10 s, write timeout 10 s,
 * backoff 1 s x 2^(n-1) capped at 30 s) plus what it lacked: jitter, a
 * handshake timeout, a stability threshold and an auth-failure cap.
 */
import { BACKOFF_INITIAL_MS, BACKOFF_MAX_MS } from '../shared/backoff.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { Secret } from '../shared/secret.js';
import { requireHostPort, requireInt, requireNumber, requireString } from '../shared/validate.js';
import type { HostHeaderMode } from './local-forwarder-config.js';
import type { TunnelClientHooks } from './tunnel-client-hooks.js';

/** Smallest per-stream window yamux allows (spec.md initial window), in bytes. */
const MIN_STREAM_WINDOW_BYTES = 256 * 1024;

/** User options of a `TunnelClient`: `relayUrl`, `token` and `localAddr` required. */
export interface TunnelClientOptions {
  /** `ws://` or `wss://` URL of the relay's tunnel endpoint; its query parameters are kept. */
  relayUrl: string;
  /**
   * More relay endpoints (nodes of a relay cluster), tried after `relayUrl`
   * in order, then round-robin: each failed dial and each ended session moves
   * to the next one, on the usual backoff schedule.
   */
  moreRelayUrls?: readonly string[];
  /** The agent token, sent as `?token=` and as `Authorization: Bearer`. */
  token: string | Secret;
  /** `host:port` of the local service. */
  localAddr: string;
  logger?: Logger;
  hooks?: TunnelClientHooks;
  clock?: Clock;
  /** Jitter source, a number in [0, 1). */
  random?: () => number;
  /** Spread of the retry delay, 0.2 = +/-20 %; 0 turns jitter off. */
  jitterRatio?: number;
  /** Deadline of the whole WebSocket upgrade. */
  handshakeTimeoutMs?: number;
  /** Interval between yamux keepalive pings; 0 turns keepalive off. */
  keepAliveIntervalMs?: number;
  /** A ping unanswered this long ends the session (default 15000, or interval + 5000 for long intervals). */
  keepAliveTimeoutMs?: number;
  /**
   * How long `stop()` waits for the WebSocket close handshake (our close frame
   * flushed and answered) before it drops the socket. A transport whose
   * writes stall is caught by the keepalive timeout: no ping gets through it.
   */
  writeTimeoutMs?: number;
  /** A session that lived less than this counts as a failed attempt and backs off. */
  stabilityThresholdMs?: number;
  /** After this many consecutive 401/403 refusals, every retry waits the maximum delay. */
  authFailureCapAfter?: number;
  /**
   * Give up after this many identical refusals in a row (401/403 token, 404
   * path: they do not fix themselves), calling `onGaveUp`; 0 (default) retries forever.
   */
  maxRefusals?: number;
  /** First retry delay (backoff base). */
  backoffInitialMs?: number;
  /** Largest retry delay, before jitter. */
  backoffMaxMs?: number;
  /** `Host` sent to the local service: `preserve`, `local` or a fixed value. */
  hostHeader?: HostHeaderMode;
  /** yamux receive window per stream; at least 256 KiB. */
  maxStreamWindowBytes?: number;
  /** Streams served at once; the relay's further streams are reset (bounds memory against a hostile relay). */
  maxStreams?: number;
  /** Sent as `X-Tunnel-Agent-Version` on the upgrade when set. */
  agentVersion?: string;
  /** How long `stop()` lets open streams finish before resetting them; 0 resets them at once (as the Go client). */
  stopGraceMs?: number;
  /** Trusted CA certificates (PEM) for `wss://`. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Request bodies up to this size are kept in `onRequest` records (`requestBody`, for replay); default 0: none. */
  recordRequestBodyBytes?: number;
  /**
   * Which of the agent's HA links this client is (0-63, default 0), sent as
   * `X-Tunnel-Link` when not 0; link `i` starts at relay URL `i` (round-robin).
   */
  linkIndex?: number;
  /** The agent instance's random id, shared by its links (default: a new one). */
  instanceId?: string;
}

/** A resolved tunnel client configuration; every field set (optional ones may be undefined). */
export interface TunnelClientConfig {
  relayUrl: string;
  /** `relayUrl` and `moreRelayUrls`, in the order they are tried. */
  relayUrls: readonly string[];
  token: Secret;
  localAddr: string;
  logger: Logger;
  hooks: TunnelClientHooks;
  clock: Clock;
  random: () => number;
  jitterRatio: number;
  handshakeTimeoutMs: number;
  keepAliveIntervalMs: number;
  keepAliveTimeoutMs: number;
  writeTimeoutMs: number;
  stabilityThresholdMs: number;
  authFailureCapAfter: number;
  maxRefusals: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  hostHeader: HostHeaderMode;
  maxStreamWindowBytes: number;
  maxStreams: number;
  agentVersion: string | undefined;
  stopGraceMs: number;
  ca: string | Buffer | Array<string | Buffer> | undefined;
  recordRequestBodyBytes: number;
  linkIndex: number;
  instanceId: string | undefined;
}

/** Defaults of every optional field. */
export const DEFAULT_TUNNEL_CLIENT_CONFIG: Readonly<Omit<TunnelClientConfig, 'relayUrl' | 'relayUrls' | 'token' | 'localAddr'>> = Object.freeze({
  logger: noopLogger,
  hooks: Object.freeze({}),
  clock: systemClock,
  random: Math.random,
  jitterRatio: 0.2,
  handshakeTimeoutMs: 10_000,
  keepAliveIntervalMs: 10_000,
  keepAliveTimeoutMs: 15_000,
  writeTimeoutMs: 10_000,
  stabilityThresholdMs: 5_000,
  authFailureCapAfter: 3,
  maxRefusals: 0,
  backoffInitialMs: BACKOFF_INITIAL_MS,
  backoffMaxMs: BACKOFF_MAX_MS,
  hostHeader: 'preserve',
  maxStreamWindowBytes: MIN_STREAM_WINDOW_BYTES,
  maxStreams: 1024,
  agentVersion: undefined,
  stopGraceMs: 0,
  ca: undefined,
  recordRequestBodyBytes: 0,
  linkIndex: 0,
  instanceId: undefined,
});

/** Header values may not contain control characters (request smuggling). */
const HEADER_VALUE = /^[\x20-\x7e\x80-\xff]*$/;
/** Token characters that survive an `Authorization: Bearer` header unchanged (RFC 6750 b64token, plus a few more). */
const TOKEN_VALUE = /^[\x21-\x7e]+$/;

/** Merges `options` over the defaults and validates; throws `ConfigError` naming the field (never showing the token). */
export function resolveTunnelClientConfig(options: TunnelClientOptions): Readonly<TunnelClientConfig> {
  if (options === null || typeof options !== 'object') throw new ConfigError('options', 'must be an object', options);
  const d = DEFAULT_TUNNEL_CLIENT_CONFIG;
  const relayUrl = resolveRelayUrl('relayUrl', options.relayUrl);
  if (options.moreRelayUrls !== undefined && !Array.isArray(options.moreRelayUrls)) throw new ConfigError('moreRelayUrls', 'must be a list of URLs', options.moreRelayUrls);
  const relayUrls = Object.freeze([relayUrl, ...(options.moreRelayUrls ?? []).map((u, i) => resolveRelayUrl(`moreRelayUrls[${i}]`, u))]);
  const token = resolveToken(options.token);
  const localAddr = requireString('localAddr', options.localAddr);
  requireHostPort('localAddr', localAddr);

  const keepAliveIntervalMs = requireInt('keepAliveIntervalMs', options.keepAliveIntervalMs ?? d.keepAliveIntervalMs, 0);
  const defaultKeepAliveTimeoutMs =
    keepAliveIntervalMs >= d.keepAliveTimeoutMs ? keepAliveIntervalMs + 5_000 : d.keepAliveTimeoutMs;
  const keepAliveTimeoutMs = requireInt('keepAliveTimeoutMs', options.keepAliveTimeoutMs ?? defaultKeepAliveTimeoutMs, 1);
  if (keepAliveIntervalMs > 0 && keepAliveTimeoutMs <= keepAliveIntervalMs) {
    throw new ConfigError('keepAliveTimeoutMs', `must be greater than keepAliveIntervalMs (${keepAliveIntervalMs})`, keepAliveTimeoutMs);
  }
  const backoffInitialMs = requireInt('backoffInitialMs', options.backoffInitialMs ?? d.backoffInitialMs, 1);
  const backoffMaxMs = requireInt('backoffMaxMs', options.backoffMaxMs ?? d.backoffMaxMs, 1);
  if (backoffMaxMs < backoffInitialMs) {
    throw new ConfigError('backoffMaxMs', `must be at least backoffInitialMs (${backoffInitialMs})`, backoffMaxMs);
  }
  const hostHeader = requireString('hostHeader', options.hostHeader ?? d.hostHeader);
  if (!HEADER_VALUE.test(hostHeader)) throw new ConfigError('hostHeader', 'must not contain control characters', hostHeader);
  let agentVersion: string | undefined;
  if (options.agentVersion !== undefined) {
    agentVersion = requireString('agentVersion', options.agentVersion);
    if (!HEADER_VALUE.test(agentVersion)) {
      throw new ConfigError('agentVersion', 'must not contain control characters', agentVersion);
    }
  }
  const random = options.random ?? d.random;
  if (typeof random !== 'function') throw new ConfigError('random', 'must be a function', typeof random);
  const clock = options.clock ?? d.clock;
  if (clock === null || typeof clock !== 'object' || typeof clock.now !== 'function' || typeof clock.setTimeout !== 'function') {
    throw new ConfigError('clock', 'must be a Clock', typeof clock);
  }
  const logger = options.logger ?? d.logger;
  if (logger === null || typeof logger !== 'object' || typeof logger.child !== 'function') {
    throw new ConfigError('logger', 'must be a Logger', typeof logger);
  }
  const hooks = options.hooks ?? d.hooks;
  if (hooks === null || typeof hooks !== 'object') throw new ConfigError('hooks', 'must be an object', typeof hooks);
  let instanceId: string | undefined;
  if (options.instanceId !== undefined) {
    instanceId = requireString('instanceId', options.instanceId);
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(instanceId)) throw new ConfigError('instanceId', 'must be 8-64 of A-Z, a-z, 0-9, "_", "-"', instanceId);
  }

  return Object.freeze({
    relayUrl,
    relayUrls,
    token,
    localAddr,
    logger,
    hooks,
    clock,
    random,
    jitterRatio: requireNumber('jitterRatio', options.jitterRatio ?? d.jitterRatio, 0, 0.99),
    handshakeTimeoutMs: requireInt('handshakeTimeoutMs', options.handshakeTimeoutMs ?? d.handshakeTimeoutMs, 1),
    keepAliveIntervalMs,
    keepAliveTimeoutMs,
    writeTimeoutMs: requireInt('writeTimeoutMs', options.writeTimeoutMs ?? d.writeTimeoutMs, 1),
    stabilityThresholdMs: requireInt('stabilityThresholdMs', options.stabilityThresholdMs ?? d.stabilityThresholdMs, 0),
    authFailureCapAfter: requireInt('authFailureCapAfter', options.authFailureCapAfter ?? d.authFailureCapAfter, 1),
    maxRefusals: requireInt('maxRefusals', options.maxRefusals ?? d.maxRefusals, 0),
    backoffInitialMs,
    backoffMaxMs,
    hostHeader,
    maxStreamWindowBytes: requireInt(
      'maxStreamWindowBytes',
      options.maxStreamWindowBytes ?? d.maxStreamWindowBytes,
      MIN_STREAM_WINDOW_BYTES,
      0x7fff_ffff,
    ),
    maxStreams: requireInt('maxStreams', options.maxStreams ?? d.maxStreams, 1, 1_000_000),
    agentVersion,
    stopGraceMs: requireInt('stopGraceMs', options.stopGraceMs ?? d.stopGraceMs, 0),
    ca: options.ca,
    recordRequestBodyBytes: requireInt(
      'recordRequestBodyBytes',
      options.recordRequestBodyBytes ?? d.recordRequestBodyBytes,
      0,
      16 * 1024 * 1024,
    ),
    linkIndex: requireInt('linkIndex', options.linkIndex ?? d.linkIndex, 0, 63),
    instanceId,
  });
}

function resolveRelayUrl(field: string, value: unknown): string {
  const text = requireString(field, value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(field, 'must be a ws:// or wss:// URL', '[unparsable URL]');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ConfigError(field, 'must be a ws:// or wss:// URL', url.protocol);
  }
  return url.href;
}

function resolveToken(value: unknown): Secret {
  const raw = value instanceof Secret ? value.reveal() : value;
  if (typeof raw !== 'string' || raw.length === 0) {
    throw new ConfigError('token', 'must be a non-empty string or Secret', raw === undefined ? undefined : '[secret]');
  }
  if (!TOKEN_VALUE.test(raw)) {
    throw new ConfigError('token', 'must be printable ASCII without spaces', '[secret]');
  }
  return value instanceof Secret ? value : new Secret(raw);
}
