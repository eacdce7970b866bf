/**
 * The agent's dial / run / redial loop (Go `Client.run`), without the Go
 * client's reconnect storm:
 *
 * - consecutive dial failures back off `backoff(attempt)` (1, 2, 4, 8, 16,
 *   30, 30 ... s) with jitter; `onRetryScheduled` reports the delay used;
 * - a session that lived less than `stabilityThresholdMs` counts as a failed
 *   attempt and backs off too, so a relay that accepts and drops at once is
 *   not hammered; a longer one resets the attempt counter and redials at once
 *   (within a small random spread when jitter is on, so a fleet does not
 *   redial in the same millisecond);
 * - after `authFailureCapAfter` consecutive auth refusals, every retry waits
 *   the maximum delay (a revoked token must not hammer the relay);
 * - refusals that do not fix themselves (a wrong or revoked token, a wrong
 *   path) are logged at `error` with a hint, and after `maxRefusals`
 *   identical ones in a row (same code and status) the loop gives up:
 *   `onGaveUp` is called and it ends (0 = never give up);
 * - hooks are called guarded and never awaited;
 * - `stop()` aborts a dial or a wait at once and closes a running session.
 */
import { withJitter, backoff } from '../shared/backoff.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { callHook, type TunnelClientHooks } from './tunnel-client-hooks.js';
import { AgentAuthRejectedError, isRelayRefusal } from './errors.js';

/** A running session as the loop sees it. */
export interface LoopConnection {
  /** Settles when the session has ended, with its cause (undefined after our own `close()`). Never rejects. */
  readonly closed: Promise<Error | undefined>;
  /** Ends the session (idempotent); resolves once it has ended. */
  close(): Promise<void>;
}

/** Dials once: resolves with a running session, rejects with the dial failure (or an abort). */
export type LoopConnect = (attempt: number, signal: AbortSignal) => Promise<LoopConnection>;

/** Settings of a `ReconnectLoop`; every field but `connect` optional. */
export interface ReconnectLoopOptions {
  connect: LoopConnect;
  hooks?: TunnelClientHooks;
  logger?: Logger;
  clock?: Clock;
  /** Jitter source, a number in [0, 1). */
  random?: () => number;
  /** Spread of each delay, 0.2 = +/-20 %; 0 = none. */
  jitterRatio?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  stabilityThresholdMs?: number;
  authFailureCapAfter?: number;
  /** True for errors that count as auth refusals (default: `AgentAuthRejectedError`). */
  isAuthFailure?: (err: Error) => boolean;
  /** Identical refusals in a row after which the loop gives up; 0 (default) = never. */
  maxRefusals?: number;
  /** True for refusals that do not fix themselves (default: `isRelayRefusal`: 401, 403, 404). */
  isRefusal?: (err: Error) => boolean;
}

/** What makes two refusals identical: their code and HTTP status. */
function refusalKey(err: Error): string {
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  return `${String(code)}:${String(statusCode)}`;
}

/** Runs `connect` until stopped, backing off between failures. */
export class ReconnectLoop {
  readonly #connect: LoopConnect;
  readonly #hooks: TunnelClientHooks;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #jitterRatio: number;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  readonly #stabilityThresholdMs: number;
  readonly #authFailureCapAfter: number;
  readonly #isAuthFailure: (err: Error) => boolean;
  readonly #maxRefusals: number;
  readonly #isRefusal: (err: Error) => boolean;
  #gaveUp: Error | null = null;
  readonly #abort = new AbortController();
  #running: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #current: LoopConnection | null = null;

  constructor(options: ReconnectLoopOptions) {
    this.#connect = options.connect;
    this.#hooks = options.hooks ?? {};
    this.#logger = options.logger ?? noopLogger;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#jitterRatio = options.jitterRatio ?? 0.2;
    this.#backoffInitialMs = options.backoffInitialMs ?? 1_000;
    this.#backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.#stabilityThresholdMs = options.stabilityThresholdMs ?? 5_000;
    this.#authFailureCapAfter = options.authFailureCapAfter ?? 3;
    this.#isAuthFailure = options.isAuthFailure ?? ((err) => err instanceof AgentAuthRejectedError);
    this.#maxRefusals = options.maxRefusals ?? 0;
    this.#isRefusal = options.isRefusal ?? isRelayRefusal;
  }

  /** The refusal the loop gave up on (after `maxRefusals` identical ones), else null. */
  get gaveUp(): Error | null {
    return this.#gaveUp;
  }

  /** True between `start()` and the end of `stop()`. */
  get isRunning(): boolean {
    return this.#running !== null && this.#stopping === null;
  }

  /** Starts the loop in the background; a second call (or one after `stop()`) does nothing. */
  start(): void {
    if (this.#running !== null || this.#stopping !== null) return;
    this.#running = this.#run().catch((err: unknown) => {
      this.#logger.error('reconnect loop failed', { error: err instanceof Error ? err.message : String(err) });
    });
  }

  /**
   * Stops the loop: aborts a dial or a wait at once, closes a running session
   * and resolves once the loop has ended. Idempotent.
   */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    this.#abort.abort();
    this.#stopping = (async () => {
      const current = this.#current;
      if (current !== null) {
        await current.close().catch((err: unknown) => {
          this.#logger.warn('closing the session failed', { error: err instanceof Error ? err.message : String(err) });
        });
      }
      await this.#running;
    })();
    return this.#stopping;
  }

  /** The delay before the next dial after failed attempt `attempt`, jitter included. */
  retryDelayMs(attempt: number, authFailures: number): number {
    const base =
      authFailures >= this.#authFailureCapAfter
        ? this.#backoffMaxMs
        : backoff(attempt, this.#backoffInitialMs, this.#backoffMaxMs);
    return Math.max(0, withJitter(base, this.#jitterRatio, this.#random));
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let attempt = 0;
    let authFailures = 0;
    let refusals = 0;
    let lastRefusal = '';
    while (!signal.aborted) {
      attempt += 1;
      callHook(this.#hooks, 'onDialAttempt', this.#logger, attempt);
      let connection: LoopConnection;
      try {
        connection = await this.#connect(attempt, signal);
      } catch (err) {
        if (signal.aborted) return;
        const error = err instanceof Error ? err : new Error(String(err));
        authFailures = this.#isAuthFailure(error) ? authFailures + 1 : 0;
        const refused = this.#isRefusal(error);
        const key = refused ? refusalKey(error) : '';
        refusals = refused && key === lastRefusal ? refusals + 1 : refused ? 1 : 0;
        lastRefusal = key;
        callHook(this.#hooks, 'onDialFailed', this.#logger, attempt, error);
        if (refused && this.#maxRefusals > 0 && refusals >= this.#maxRefusals) {
          this.#gaveUp = error;
          this.#logger.error('relay refused the agent; giving up', { ...refusalFields(error), refusals, maxRefusals: this.#maxRefusals });
          callHook(this.#hooks, 'onGaveUp', this.#logger, error, refusals);
          return;
        }
        await this.#waitBeforeRetry(attempt, authFailures, error, refused ? refusals : 0);
        continue;
      }
      if (signal.aborted) {
        await connection.close();
        return;
      }
      this.#current = connection;
      authFailures = 0;
      refusals = 0;
      lastRefusal = '';
      const upAtMs = this.#clock.now();
      callHook(this.#hooks, 'onSessionUp', this.#logger);
      const cause = await connection.closed;
      this.#current = null;
      callHook(this.#hooks, 'onSessionDown', this.#logger, cause);
      if (signal.aborted) return;
      const livedMs = this.#clock.now() - upAtMs;
      if (livedMs >= this.#stabilityThresholdMs) {
        attempt = 0;
        // Spread the redials of a fleet that lost the same relay at once
        // (0 .. 2 x jitterRatio x the first backoff step; none without jitter).
        const spreadMs = Math.round(this.#random() * 2 * this.#jitterRatio * this.#backoffInitialMs);
        this.#logger.info('session ended; redialling', { livedMs, delayMs: spreadMs, error: cause?.message });
        if (spreadMs > 0) await this.#sleep(spreadMs);
        continue;
      }
      // A short-lived session is a failed attempt: back off, or a relay that accepts and drops gets a storm.
      await this.#waitBeforeRetry(attempt, 0, cause);
    }
  }

  async #waitBeforeRetry(attempt: number, authFailures: number, cause: Error | undefined, refusals = 0): Promise<void> {
    const delayMs = this.retryDelayMs(attempt, authFailures);
    if (cause !== undefined && refusals > 0) {
      // Not transient: said loudly, with what to do about it.
      const limit = this.#maxRefusals > 0 ? { refusals, maxRefusals: this.#maxRefusals } : { refusals };
      this.#logger.error('relay refused the agent; retrying', { attempt, delayMs, ...refusalFields(cause), ...limit });
    } else {
      this.#logger.info('tunnel connection failed; retrying', { attempt, delayMs, error: cause?.message });
    }
    callHook(this.#hooks, 'onRetryScheduled', this.#logger, attempt, delayMs);
    await this.#sleep(delayMs);
  }

  #sleep(delayMs: number): Promise<void> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        this.#clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.#clock.setTimeout(done, delayMs);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** Log fields of a refusal: message, code, status and hint. */
function refusalFields(err: Error): Record<string, unknown> {
  const { code, statusCode, hint } = err as { code?: unknown; statusCode?: unknown; hint?: unknown };
  return { error: err.message, code, status: statusCode, ...(typeof hint === 'string' ? { hint } : {}) };
}
