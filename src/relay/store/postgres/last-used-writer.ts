/**
 * Batches the `last_used_at` updates of agent tokens: a reconnect storm of
 * thousands of agents costs one statement per flush, not one per agent, and
 * a store outage loses nothing but these (approximate, throttled) times.
 */
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logger.js';
import { pgQuery, type PgExecutor } from './pg-transaction.js';

/** Pending `last_used_at` writes, flushed every `flushIntervalMs`. */
export class LastUsedWriter {
  readonly #executor: PgExecutor;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #flushIntervalMs: number;
  #pending = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(executor: PgExecutor, options: { clock: Clock; logger: Logger; flushIntervalMs: number }) {
    this.#executor = executor;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#flushIntervalMs = options.flushIntervalMs;
  }

  /** Records that `tokenId` was used at `atMs`. */
  record(tokenId: string, atMs: number): void {
    if (this.#closed) return;
    this.#pending.set(tokenId, atMs);
    if (this.#timer === undefined) {
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#flushIntervalMs);
      this.#timer.unref?.();
    }
  }

  /** Writes what is pending (one statement); failures are logged and the times dropped. */
  flush(): Promise<void> {
    if (this.#pending.size === 0) return this.#flushing ?? Promise.resolve();
    const batch = this.#pending;
    this.#pending = new Map();
    const previous = this.#flushing ?? Promise.resolve();
    const flushing = previous.then(async () => {
      try {
        await pgQuery(
          this.#executor,
          'recording token use',
          `UPDATE agent_tokens t SET last_used_at = GREATEST(COALESCE(t.last_used_at, 0), u.at)
           FROM unnest($1::text[], $2::bigint[]) AS u(id, at) WHERE t.id = u.id`,
          [[...batch.keys()], [...batch.values()]],
        );
      } catch (err) {
        this.#logger.debug('cannot record token use', { tokens: batch.size, err: err instanceof Error ? err.message : String(err) });
      }
    });
    this.#flushing = flushing;
    void flushing.finally(() => {
      if (this.#flushing === flushing) this.#flushing = undefined;
    });
    return flushing;
  }

  /** Flushes once more and stops; idempotent. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#closed) {
      this.#closed = true;
      await this.flush();
    }
    await this.#flushing;
  }
}
