/**
 * One HA link of an agent as the tunnel manager sees it: its client's hooks
 * projected onto a `LinkStatus` (`connecting` until its first session is up,
 * `online`, `reconnecting` after a session or dial was lost, `stopped`),
 * with the node it reached and its keepalive RTT. Each link has its own
 * keepalive, backoff and state; the manager is online while any link is.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../shared/clock.js';
import { RELAY_NODE_HEADER } from '../http/tunnel-headers.js';
import { redactUrl } from '../transport/index.js';
import { RelayElsewhereError } from './errors.js';
import { describeConnectionError, type ConnectionErrorInfo, type ConnectionState, type LinkStatus } from './connection-status.js';
import type { TunnelClientHooks } from './tunnel-client-hooks.js';

/** What a link needs from its client; every field but `start`/`stop` optional (test clients). */
export interface ManagedTunnelClient {
  start(): void;
  stop(): Promise<void>;
  /** RTT of the last answered ping, in milliseconds. */
  readonly lastRttMs?: number | undefined;
  /** Headers of the relay's `101` for the current session, or null while not connected. */
  readonly relayHeaders?: Readonly<IncomingHttpHeaders> | null;
  /** The relay URL of the current session or the next dial. */
  readonly currentRelayUrl?: string;
  /** The public URL the relay announced for the current session, if any. */
  readonly publicUrl?: string | undefined;
}

/** One link: its client, state and the node it is on. */
export class LinkTracker {
  readonly index: number;
  client!: ManagedTunnelClient;
  readonly #clock: Clock;
  readonly #onChange: () => void;
  #state: ConnectionState = 'idle';
  #attempt = 0;
  #lastError: ConnectionErrorInfo | null = null;
  #nextRetryAt: number | null = null;
  #since: number;
  #wasOnline = false;
  #node: string | null = null;
  #stopping = false;
  #sameNodeRefusals = 0;

  /** `onChange` runs after every change of the link's connection fields. */
  constructor(index: number, clock: Clock, onChange: () => void) {
    this.index = index;
    this.#clock = clock;
    this.#onChange = onChange;
    this.#since = clock.now();
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get attempt(): number {
    return this.#attempt;
  }

  get lastError(): ConnectionErrorInfo | null {
    return this.#lastError;
  }

  get nextRetryAt(): number | null {
    return this.#nextRetryAt;
  }

  /** Consecutive dials refused with `ERR_RELAY_LINK_ON_THIS_NODE` (0 after any other outcome). */
  get sameNodeRefusals(): number {
    return this.#sameNodeRefusals;
  }

  /** The node id our relay named in its answer (`X-Tunnel-Node`), while online; null otherwise or from the Go relay. */
  get node(): string | null {
    return this.#node;
  }

  /** The link as plain JSON. */
  status(): LinkStatus {
    const rtt = this.client.lastRttMs;
    const url = this.client.currentRelayUrl;
    return {
      index: this.index,
      state: this.#state,
      since: this.#since,
      attempt: this.#attempt,
      lastError: this.#lastError === null ? null : { ...this.#lastError },
      nextRetryAt: this.#nextRetryAt,
      node: this.#node,
      relayUrl: url === undefined ? null : redactUrl(url),
      rttMs: typeof rtt === 'number' ? rtt : null,
    };
  }

  /** Enters `stopped`: no hook changes the link afterwards. */
  markStopping(): void {
    this.#stopping = true;
  }

  markStopped(): void {
    this.#stopping = true;
    this.#nextRetryAt = null;
    this.#node = null;
    this.#transition('stopped');
  }

  /** The hooks that drive this link's state. */
  hooks(): TunnelClientHooks {
    return {
      onDialAttempt: (attempt) => {
        if (this.#stopping) return;
        this.#attempt = attempt;
        this.#nextRetryAt = null;
        this.#transition(this.#wasOnline ? 'reconnecting' : 'connecting');
      },
      onSessionUp: () => {
        if (this.#stopping) return;
        this.#wasOnline = true;
        this.#sameNodeRefusals = 0;
        this.#attempt = 0;
        this.#lastError = null;
        this.#nextRetryAt = null;
        const node = this.client.relayHeaders?.[RELAY_NODE_HEADER.toLowerCase()];
        this.#node = typeof node === 'string' && node !== '' ? node : null;
        this.#transition('online');
      },
      onSessionDown: (err) => {
        if (this.#stopping) return;
        if (err !== undefined) this.#lastError = describeConnectionError(err);
        this.#node = null;
        this.#transition('reconnecting');
      },
      // Moving: the old session still finishes its streams, but visitors are sent elsewhere already.
      onSessionReleased: (err) => {
        if (this.#stopping) return;
        this.#lastError = describeConnectionError(err);
        this.#node = null;
        this.#transition('reconnecting');
      },
      onDialFailed: (attempt, err) => {
        if (this.#stopping) return;
        this.#attempt = attempt;
        this.#lastError = describeConnectionError(err);
        this.#sameNodeRefusals = err instanceof RelayElsewhereError && err.relayCode === 'ERR_RELAY_LINK_ON_THIS_NODE' ? this.#sameNodeRefusals + 1 : 0;
        this.#transition(this.#wasOnline ? 'reconnecting' : 'connecting');
      },
      onGaveUp: (err) => {
        this.#lastError = describeConnectionError(err);
        this.#nextRetryAt = null;
        this.#stopping = true;
        this.#transition('stopped');
      },
      onRetryScheduled: (attempt, delayMs) => {
        if (this.#stopping) return;
        this.#attempt = attempt;
        this.#nextRetryAt = this.#clock.now() + delayMs;
        this.#transition(this.#state);
      },
    };
  }

  #transition(state: ConnectionState): void {
    if (state !== this.#state) {
      this.#state = state;
      this.#since = this.#clock.now();
    }
    this.#onChange();
  }
}
