/**
 * Lifecycle hooks of the tunnel client, with the Go client's meaning
 * (`ClientHooks`), plus a few optional extras for statistics. Hooks are
 * observers: they run synchronously on the loop, are never awaited, and a
 * hook that throws or returns a promise that never settles cannot break or
 * stall the loop.
 */
import type { Logger } from '../shared/logger.js';
import type { LocalRequestRecord } from './local-forwarder.js';

/** Observers of the reconnect loop; every hook is optional. */
export interface TunnelClientHooks {
  /** A dial starts; `attempt` counts from 1 and resets after a stable session. */
  onDialAttempt?(attempt: number): unknown;
  /** The WebSocket is up and the yamux session runs: streams are forwarded. */
  onSessionUp?(): unknown;
  /**
   * The session ended. `err` is the cause (`KeepAliveTimeoutError`,
   * `GoAwayError`, `RelayDisconnectedError` with its close code,
   * `MuxProtocolError`); undefined only when our own `stop()` ended it.
   */
  onSessionDown?(err: Error | undefined): unknown;
  /**
   * The relay asked this session to move (GoAway normal: its node drains):
   * the replacement is dialed now, while this session keeps serving its
   * streams until the relay ends it. `err` is a `RelayMovedError`. If it
   * ends before its replacement is up, `onSessionDown` reports that end;
   * after, its end is silent. Not in the Go client.
   */
  onSessionReleased?(err: Error): unknown;
  /** A dial failed (refused upgrade, timeout, no answer). */
  onDialFailed?(attempt: number, err: Error): unknown;
  /** The next dial waits `delayMs`: the delay actually used, jitter included. */
  onRetryScheduled?(attempt: number, delayMs: number): unknown;
  /**
   * The loop gave up after `refusals` identical refusals in a row (`maxRefusals`):
   * `err` is the last one (`AgentAuthRejectedError`, `AgentEndpointNotFoundError`).
   * Nothing is dialled after it. Not in the Go client.
   */
  onGaveUp?(err: Error, refusals: number): unknown;
  /** The relay opened a stream; `activeStreams` counts it. Not in the Go client. */
  onStreamOpened?(activeStreams: number): unknown;
  /** A stream ended; `activeStreams` no longer counts it. Not in the Go client. */
  onStreamClosed?(activeStreams: number): unknown;
  /** A forwarded request finished (from the local forwarder). Not in the Go client. */
  onRequest?(record: LocalRequestRecord): unknown;
}

/** Names of the hooks. */
export type TunnelClientHookName = keyof TunnelClientHooks;

/**
 * Calls `hooks[name]` without letting it hurt the caller: a synchronous throw
 * or a rejected promise is logged, a pending promise is not waited for.
 */
export function callHook<K extends TunnelClientHookName>(
  hooks: TunnelClientHooks,
  name: K,
  logger: Logger,
  ...args: Parameters<NonNullable<TunnelClientHooks[K]>>
): void {
  const hook = hooks[name] as ((...a: unknown[]) => unknown) | undefined;
  if (typeof hook !== 'function') return;
  const report = (err: unknown): void => {
    logger.warn('tunnel client hook failed', { hook: name, error: err instanceof Error ? err.message : String(err) });
  };
  try {
    const result = hook.apply(hooks, args);
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, report);
    }
  } catch (err) {
    report(err);
  }
}

/** Hooks that call each of `list` in turn (each guarded on its own). */
export function combineHooks(logger: Logger, ...list: Array<TunnelClientHooks | undefined>): TunnelClientHooks {
  const present = list.filter((h): h is TunnelClientHooks => h !== undefined);
  const names: TunnelClientHookName[] = [
    'onDialAttempt',
    'onSessionUp',
    'onSessionDown',
    'onSessionReleased',
    'onDialFailed',
    'onRetryScheduled',
    'onGaveUp',
    'onStreamOpened',
    'onStreamClosed',
    'onRequest',
  ];
  const combined: TunnelClientHooks = {};
  for (const name of names) {
    (combined as Record<string, unknown>)[name] = (...args: unknown[]) => {
      for (const h of present) (callHook as (...a: unknown[]) => void)(h, name, logger, ...args);
    };
  }
  return combined;
}
