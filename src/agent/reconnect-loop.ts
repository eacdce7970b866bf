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
 * - a relay that sends the link elsewhere (`isElsewhere`: a draining node, a
 *   node holding another link of this agent) is redialed after a short
 *   random pause, for `elsewhereRetries` consecutive refusals, before the
 *   normal backoff applies;
 * - a session `released` by the relay (GoAway normal: the node drains) is
 *   replaced at once while it keeps serving its streams until it ends by
 *   itself (make before break);
 * - hooks are called guarded and never awaited;
 * - `stop()` aborts a dial or a wait at once and closes every session.
 */
import { withJitter, backoff } from '../shared/backoff.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { callHook, type TunnelClientHooks } from './tunnel-client-hooks.js';
import { AgentAuthRejectedError, isRelayRefusal, RelayElsewhereError } from './errors.js';

/** A running session as the loop sees it. */
export interface LoopConnection {
  /** Settles when the session has ended, with its cause (undefined after our own `close()`). Never rejects. */
  readonly closed: Promise<Error | undefined>;
  /** Ends the session (idempotent); resolves once it has ended. */
  close(): Promise<void>;
  /** Resolves when the relay asks for a replacement while this session still runs (GoAway normal). Never rejects. */
  readonly released?: Promise<Error>;
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
  /** True for dial refusals that send the link to another node (default: `RelayElsewhereError`). */
  isElsewhere?: (err: Error) => boolean;
  /** Consecutive "elsewhere" refusals redialed after a short pause before backing off (default 8). */
  elsewhereRetries?: number;
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

/** Upper bound of the pause before redialing after an "elsewhere" refusal (ms; the pause is random below it). */
export const ELSEWHERE_RETRY_MAX_MS = 250;

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
  readonly #isElsewhere: (err: Error) => boolean;
  readonly #elsewhereRetries: number;
  /** Released sessions still serving their streams. */
  readonly #released = new Set<LoopConnection>();
  /** Released sessions whose replacement is not up yet: their end is still reported as the session's end. */
  readonly #unreplaced = new Set<LoopConnection>();
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
    this.#isElsewhere = options.isElsewhere ?? ((err) => err instanceof RelayElsewhereError);
    this.#elsewhereRetries = options.elsewhereRetries ?? 8;
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
      const sessions = [...this.#released, ...(this.#current === null ? [] : [this.#current])];
      await Promise.all(
        sessions.map((s) =>
          s.close().catch((err: unknown) => {
            this.#logger.warn('closing the session failed', { error: err instanceof Error ? err.message : String(err) });
          }),
        ),
      );
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
    let elsewhere = 0;
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
        elsewhere = this.#isElsewhere(error) ? elsewhere + 1 : 0;
        callHook(this.#hooks, 'onDialFailed', this.#logger, attempt, error);
        if (elsewhere > 0 && elsewhere <= this.#elsewhereRetries) {
          // Not a failure of this link: the node sent it on. Another node is a moment away.
          const delayMs = Math.floor(this.#random() * ELSEWHERE_RETRY_MAX_MS);
          this.#logger.info('relay node sent this link elsewhere; redialling', { attempt, delayMs, error: error.message });
          callHook(this.#hooks, 'onRetryScheduled', this.#logger, attempt, delayMs);
          attempt -= 1;
          await this.#sleep(delayMs);
          continue;
        }
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
      elsewhere = 0;
      const upAtMs = this.#clock.now();
      // A released session that is still draining ends silently from now on: this one replaced it.
      this.#unreplaced.clear();
      callHook(this.#hooks, 'onSessionUp', this.#logger);
      const released = connection.released?.then((err) => ({ released: err }));
      const ended = await Promise.race([connection.closed.then((err) => ({ closed: err })), ...(released === undefined ? [] : [released])]);
      this.#current = null;
      const cause = 'released' in ended ? ended.released : ended.closed;
      if ('released' in ended) {
        // The old session keeps serving its streams; the relay ends it once they are done.
        this.#released.add(connection);
        this.#unreplaced.add(connection);
        void connection.closed.then((err) => {
          this.#released.delete(connection);
          // Ended before its replacement came up (a kick, a relay that closes at once): the link is down.
          if (this.#unreplaced.delete(connection) && !signal.aborted) callHook(this.#hooks, 'onSessionDown', this.#logger, err);
        });
        if (signal.aborted) void connection.close();
      }
      if ('released' in ended) callHook(this.#hooks, 'onSessionReleased', this.#logger, ended.released);
      else callHook(this.#hooks, 'onSessionDown', this.#logger, cause);
      if (signal.aborted) return;
      if ('released' in ended && this.#clock.now() - upAtMs >= this.#stabilityThresholdMs) {
        attempt = 0;
        this.#logger.info('relay asked this link to move; dialing its replacement while the old session drains');
        continue;
      }
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
