/**
 * Wraps a tunnel client and projects its hooks onto a `ConnectionStatus`
 * (the Go agent's Manager): `connecting` until the first session is up,
 * `online`, `reconnecting` after a session or dial was lost, `stopped`.
 *
 * Events: `'state'` (status: ConnectionStatus) on every change of the
 * connection fields (state, attempt, lastError, nextRetryAt). Counters change
 * without an event; read them with `status()`.
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { noopLogger } from '../shared/logger.js';
import { describeConnectionError, type ConnectionState, type ConnectionStatus, type ConnectionErrorInfo } from './connection-status.js';
import type { TunnelClientOptions } from './tunnel-client-config.js';
import type { LocalRequestRecord } from './local-forwarder.js';
import { combineHooks, type TunnelClientHooks } from './tunnel-client-hooks.js';
import { TunnelClient } from './tunnel-client.js';

/** What the manager needs from a client. */
export interface ManagedTunnelClient {
  start(): void;
  stop(): Promise<void>;
  /** RTT of the last answered ping, in milliseconds. */
  readonly lastRttMs?: number | undefined;
  /** The public URL the relay announced for the current session, if any. */
  readonly publicUrl?: string | undefined;
}

/** Options of a `TunnelManager`: the client's, plus a factory for tests. */
export interface TunnelManagerOptions extends TunnelClientOptions {
  /** Builds the client from the options with the manager's hooks merged in (default: `new TunnelClient`). */
  createClient?: (options: TunnelClientOptions) => ManagedTunnelClient;
}

/** A listener of status changes. */
export type ConnectionStatusListener = (status: ConnectionStatus) => void;

/** A tunnel client plus its observable connection state. */
export class TunnelManager extends EventEmitter {
  /** The wrapped client. */
  readonly client: ManagedTunnelClient;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #state: ConnectionState = 'idle';
  #attempt = 0;
  #lastError: ConnectionErrorInfo | null = null;
  #nextRetryAt: number | null = null;
  #since: number;
  #requestsServed = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #activeStreams = 0;
  #wasOnline = false;
  #publicUrl: string | undefined;
  #gaveUp: Error | null = null;
  #onGaveUp: Array<(err: Error) => void> = [];
  #started = false;
  #stopping: Promise<void> | null = null;

  /** Builds the client (throws `ConfigError` for bad options); nothing is dialed until `start()`. */
  constructor(options: TunnelManagerOptions) {
    super();
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'tunnel-manager' });
    this.#since = this.#clock.now();
    const { createClient, ...clientOptions } = options;
    const hooks = combineHooks(this.#logger, this.#managerHooks(), options.hooks);
    const factory = createClient ?? ((o: TunnelClientOptions) => new TunnelClient(o));
    this.client = factory({ ...clientOptions, hooks });
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Starts the client; a second call, or one after `stop()`, does nothing. */
  start(): void {
    if (this.#started || this.#stopping !== null) return;
    this.#started = true;
    this.client.start();
  }

  /** Stops the client and enters `stopped` once it has stopped. Idempotent. */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    this.#stopping = this.client.stop().finally(() => {
      this.#nextRetryAt = null;
      this.#activeStreams = 0;
      this.#transition('stopped');
    });
    return this.#stopping;
  }

  /**
   * Resolves with the last refusal once the client gave up (after
   * `maxRefusals` identical ones; the state is then `stopped`); stays
   * pending otherwise.
   */
  whenGaveUp(): Promise<Error> {
    if (this.#gaveUp !== null) return Promise.resolve(this.#gaveUp);
    return new Promise((resolve) => this.#onGaveUp.push(resolve));
  }

  /** The connection and its counters, as plain JSON. */
  status(): ConnectionStatus {
    const rtt = this.client.lastRttMs;
    return {
      state: this.#state,
      attempt: this.#attempt,
      lastError: this.#lastError === null ? null : { ...this.#lastError },
      nextRetryAt: this.#nextRetryAt,
      since: this.#since,
      lastPingRttMs: typeof rtt === 'number' ? rtt : null,
      requestsServed: this.#requestsServed,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      activeStreams: this.#activeStreams,
      ...(this.#publicUrl === undefined ? {} : { publicUrl: this.#publicUrl }),
    };
  }

  /** Calls `listener` with the status after every change; returns the function that unsubscribes it. */
  subscribe(listener: ConnectionStatusListener): () => void {
    const guarded = (status: ConnectionStatus): void => {
      try {
        listener(status);
      } catch (err) {
        this.#logger.warn('status listener failed', { error: err instanceof Error ? err.message : String(err) });
      }
    };
    this.on('state', guarded);
    return () => {
      this.off('state', guarded);
    };
  }

  #managerHooks(): TunnelClientHooks {
    return {
      onDialAttempt: (attempt) => {
        if (this.#stopping !== null) return;
        this.#attempt = attempt;
        this.#nextRetryAt = null;
        this.#transition(this.#wasOnline ? 'reconnecting' : 'connecting', true);
      },
      onSessionUp: () => {
        if (this.#stopping !== null) return;
        this.#wasOnline = true;
        // Kept after the session ends: still where visitors will find the agent once it is back.
        this.#publicUrl = this.client.publicUrl ?? this.#publicUrl;
        this.#attempt = 0;
        this.#lastError = null;
        this.#nextRetryAt = null;
        this.#transition('online', true);
      },
      onSessionDown: (err) => {
        if (this.#stopping !== null) return;
        if (err !== undefined) this.#lastError = describeConnectionError(err);
        this.#transition('reconnecting', true);
      },
      onDialFailed: (attempt, err) => {
        if (this.#stopping !== null) return;
        this.#attempt = attempt;
        this.#lastError = describeConnectionError(err);
        this.#transition(this.#wasOnline ? 'reconnecting' : 'connecting', true);
      },
      onRetryScheduled: (attempt, delayMs) => {
        if (this.#stopping !== null) return;
        this.#attempt = attempt;
        this.#nextRetryAt = this.#clock.now() + delayMs;
        this.#transition(this.#state, true);
      },
      onGaveUp: (err) => {
        this.#gaveUp = err;
        this.#lastError = describeConnectionError(err);
        this.#nextRetryAt = null;
        this.#transition('stopped', true);
        for (const resolve of this.#onGaveUp.splice(0)) resolve(err);
      },
      onStreamOpened: () => {
        this.#activeStreams += 1;
      },
      onStreamClosed: () => {
        this.#activeStreams = Math.max(0, this.#activeStreams - 1);
      },
      onRequest: (record: LocalRequestRecord) => {
        this.#requestsServed += 1;
        this.#bytesIn += record.bytesIn;
        this.#bytesOut += record.bytesOut;
      },
    };
  }

  /** Enters `state` (resetting `since` when it differs) and emits `'state'`. */
  #transition(state: ConnectionState, force = false): void {
    const changed = state !== this.#state;
    if (changed) {
      this.#state = state;
      this.#since = this.#clock.now();
    }
    if (changed || force) this.emit('state', this.status());
  }
}
