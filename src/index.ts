/**
 * visiona-tunnel's public API: the agent (TunnelClient, TunnelManager), the
 * relay (Relay, its token store and access policies), the yamux session and
 * the WebSocket transport it runs on. Named exports only.
 */
export * from './agent/index.js';
export * from './relay/index.js';
export * from './relay/store/index.js';
export * from './relay/access/index.js';
export * from './mux/index.js';
export * from './transport/index.js';
export { backoff, withJitter, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS } from './shared/backoff.js';
export * from './shared/errors.js';
export { noopLogger, createSinkLogger, type Logger, type LogFields, type LogRecord } from './shared/logger.js';
export { systemClock, type Clock, type TimerHandle } from './shared/clock.js';
export { Secret } from './shared/secret.js';
